/**
 * A copy of `s` that holds no reference to the text it was cut from. V8 represents a longer
 * substring as a slice of its parent, so a user name kept as a map key would otherwise keep
 * its whole CSV line, or a whole 64 KB chunk of an answer, alive for the rest of the run.
 */
export const ownString = (s: string): string => Buffer.from(s, "utf8").toString("utf8")

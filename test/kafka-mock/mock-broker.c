/*
 * A Kafka cluster for the tests: librdkafka's built-in mock cluster (it speaks the real Kafka
 * wire protocol: Metadata, Produce, Fetch, idempotent producers...) served on 127.0.0.1 until
 * this process is told to stop.
 *
 *   mock-broker [-b brokers] [-t topic:partitions]...
 *
 * Prints one line, "BOOTSTRAP=host:port[,host:port...]", once the brokers listen. Stops on
 * SIGTERM or SIGINT, and also when its standard input reaches end of file: the test process
 * that started it holds the other end of a pipe, so a test run that dies (even with kill -9)
 * never leaves a broker behind.
 *
 * Built by build.ts, either against the system's librdkafka (pkg-config rdkafka) or against
 * librdkafka compiled from source; HAVE_SET_CONTROLLER_ID is defined when the library has
 * rd_kafka_mock_set_controller_id (librdkafka >= 2.3), which makes Metadata name broker 1 as
 * the controller instead of the nonexistent broker 0.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stopping = 0;
static void on_signal(int sig) { (void)sig; stopping = 1; }

static int fail(const char *what, const char *why) {
        fprintf(stderr, "mock-broker: %s: %s\n", what, why);
        return 1;
}

int main(int argc, char **argv) {
        int brokers = 1;
        char errstr[512];
        int opt;

        /* Topics are created after the cluster exists; remember them until then. */
        char *topics[64];
        int topic_count = 0;
        while ((opt = getopt(argc, argv, "b:t:")) != -1) {
                if (opt == 'b') brokers = atoi(optarg);
                else if (opt == 't' && topic_count < 64) topics[topic_count++] = optarg;
                else {
                        fprintf(stderr, "usage: %s [-b brokers] [-t topic:partitions]...\n", argv[0]);
                        return 2;
                }
        }
        if (brokers < 1) return fail("-b", "at least one broker");

        /* The mock cluster lives inside a client handle; this one never connects anywhere. */
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
        rd_kafka_t *handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!handle) return fail("rd_kafka_new", errstr);
        rd_kafka_mock_cluster_t *cluster = rd_kafka_mock_cluster_new(handle, brokers);
        if (!cluster) return fail("rd_kafka_mock_cluster_new", "no cluster");
#ifdef HAVE_SET_CONTROLLER_ID
        rd_kafka_mock_set_controller_id(cluster, 1);
#endif

        for (int i = 0; i < topic_count; i++) {
                char *colon = strchr(topics[i], ':');
                int partitions = 1;
                if (colon) { *colon = '\0'; partitions = atoi(colon + 1); }
                rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster, topics[i], partitions, 1);
                if (err) return fail(topics[i], rd_kafka_err2str(err));
        }

        struct sigaction action;
        memset(&action, 0, sizeof(action));
        action.sa_handler = on_signal;
        sigaction(SIGTERM, &action, NULL);
        sigaction(SIGINT, &action, NULL);
        signal(SIGPIPE, SIG_IGN);

        printf("BOOTSTRAP=%s\n", rd_kafka_mock_cluster_bootstraps(cluster));
        fflush(stdout);

        struct pollfd input = { .fd = STDIN_FILENO, .events = POLLIN };
        char sink[256];
        while (!stopping) {
                int ready = poll(&input, 1, 200);
                if (ready < 0 && errno != EINTR) break;
                if (ready > 0) {
                        /* Anything read is ignored; end of file (or a broken pipe) means stop. */
                        if (input.revents & (POLLHUP | POLLERR | POLLNVAL)) break;
                        if (read(STDIN_FILENO, sink, sizeof(sink)) <= 0) break;
                }
                rd_kafka_poll(handle, 0);
        }

        rd_kafka_mock_cluster_destroy(cluster);
        rd_kafka_destroy(handle);
        return 0;
}

// Who does what in a Kafka cluster, for kafka.sh (and the cluster tests that break a node on purpose).
//
//   kafka.sh info       compiles this with Security.java (whose connection settings it reuses) and runs it
//   kafka.sh in-sync    the same once every broker serves and every partition has all its replicas in sync
//                       (`ClusterInfo <brokers> <timeout s>`: one JVM asks every half second, at most that long)
//
// Reads the connection part of a Security.java plan on stdin (bootstrap, security_protocol, sasl_mechanism,
// admin {name, password}) and prints key=value lines:
//   controller=<id>           the active KRaft controller (the metadata quorum's leader)
//   brokers=<id>,...          the brokers the cluster serves from now (registered and not fenced)
//   leaders=<id>:<n>,...      how many partitions each broker leads, internal topics included
//   busiest=<id>              the broker leading most partitions
//   under_replicated=<n>      partitions whose in-sync replicas are fewer than their replicas
//   offline=<n>               partitions without a leader
// Exits 1 with the reason on any failure (or when the cluster is not in sync in time).

import java.nio.charset.StandardCharsets;
import java.util.Comparator;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartitionInfo;

public class ClusterInfo {
    private static final int TIMEOUT_S = 30;

    record State(int controller, TreeMap<Integer, Integer> leaders, int underReplicated, int offline) {
        boolean inSync(int brokers) {
            return leaders.size() == brokers && underReplicated == 0 && offline == 0;
        }

        String lines() {
            int busiest = leaders.entrySet().stream().max(Comparator.comparingInt(Map.Entry::getValue))
                .map(Map.Entry::getKey).orElse(-1);
            return "controller=" + controller + "\n"
                + "brokers=" + leaders.keySet().stream().map(String::valueOf).collect(Collectors.joining(",")) + "\n"
                + "leaders=" + leaders.entrySet().stream().map(e -> e.getKey() + ":" + e.getValue())
                    .collect(Collectors.joining(",")) + "\n"
                + "busiest=" + busiest + "\n"
                + "under_replicated=" + underReplicated + "\n"
                + "offline=" + offline + "\n";
        }
    }

    public static void main(String[] args) throws Exception {
        var plan = new ObjectMapper().readTree(new String(System.in.readAllBytes(), StandardCharsets.UTF_8));
        int brokers = args.length > 0 ? Integer.parseInt(args[0]) : 0;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(args.length > 1 ? Long.parseLong(args[1]) : 0);
        try (Admin admin = Admin.create(Security.config(plan))) {
            while (true) {
                State state = null;
                Exception failure = null;
                try {
                    state = describe(admin);
                } catch (Exception error) {  // e.g. no quorum leader for a moment: an election is under way
                    failure = error;
                }
                if (state != null && (brokers == 0 || state.inSync(brokers))) {
                    System.out.print(state.lines());
                    return;
                }
                if (brokers == 0 || System.nanoTime() > deadline) {
                    if (failure != null) {
                        throw failure;
                    }
                    System.out.print(state.lines());
                    System.err.println("cluster info: not every broker serving and in sync in time");
                    System.exit(1);
                }
                Thread.sleep(500);
            }
        } catch (Exception error) {
            Throwable cause = error.getCause() != null ? error.getCause() : error;
            System.err.println("cluster info: " + cause.getClass().getSimpleName() + ": " + cause.getMessage());
            System.exit(1);
        }
    }

    private static State describe(Admin admin) throws Exception {
        int controller = admin.describeMetadataQuorum().quorumInfo().get(TIMEOUT_S, TimeUnit.SECONDS).leaderId();
        var leaders = new TreeMap<Integer, Integer>();
        for (Node node : admin.describeCluster().nodes().get(TIMEOUT_S, TimeUnit.SECONDS)) {
            leaders.put(node.id(), 0);
        }
        var names = admin.listTopics(new ListTopicsOptions().listInternal(true)).names().get(TIMEOUT_S, TimeUnit.SECONDS);
        Map<String, TopicDescription> topics = admin.describeTopics(names).allTopicNames().get(TIMEOUT_S, TimeUnit.SECONDS);
        int underReplicated = 0;
        int offline = 0;
        for (TopicDescription topic : topics.values()) {
            for (TopicPartitionInfo partition : topic.partitions()) {
                if (partition.leader() == null || partition.leader().isEmpty()) {
                    offline++;
                } else {
                    leaders.merge(partition.leader().id(), 1, Integer::sum);
                }
                if (partition.isr().size() < partition.replicas().size()) {
                    underReplicated++;
                }
            }
        }
        return new State(controller, leaders, underReplicated, offline);
    }
}

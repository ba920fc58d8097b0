// Applies a Ledgerline access plan to a Kafka cluster with Kafka's own Admin API, in one JVM.
//
//   java -cp 'infra/kafka/libs/*' infra/kafka/Security.java < plan.json
//
// The plan (JSON on stdin, so no secret is written to disk or shown by ps) comes from Python:
// `python -m ledgerline_cli.kafka_security plan` prints it, `... apply` runs this program with it. It holds:
//   bootstrap, security_protocol, sasl_mechanism, admin {name, password}: how to connect (as a super user);
//   users [{name, password, reset}]: SCRAM-SHA-512 users to create when missing (or reset: password changed);
//   acls [{principal, resource, name, operation}]: the ALLOW bindings wanted (literal names, any host);
//   managed {prefix, TOPIC: [regex], GROUP: [regex]}: a binding on a topic or group whose name is the prefix
//     followed by a name matching one of the patterns belongs to this plan; those not wanted are deleted.
//     Bindings on other names (another prefix's, anything else on the cluster) are never touched.
// Prints one line: what it created, deleted and kept. Exits 1 with the reason on any failure.

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class Security {
    private static final int TIMEOUT_S = 60;

    public static void main(String[] args) throws Exception {
        JsonNode plan = new ObjectMapper().readTree(new String(System.in.readAllBytes(), StandardCharsets.UTF_8));
        try (Admin admin = Admin.create(config(plan))) {
            int users = users(admin, plan.get("users"));
            String acls = acls(admin, plan);
            System.out.println("kafka security: " + users + " user(s) created or reset; ACLs " + acls);
        } catch (Exception error) {
            Throwable cause = error.getCause() != null ? error.getCause() : error;
            System.err.println("kafka security: " + cause.getClass().getSimpleName() + ": " + cause.getMessage());
            System.exit(1);
        }
    }

    /** The admin client's settings from a plan's connection part (ClusterInfo.java connects the same way). */
    static Properties config(JsonNode plan) {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, plan.get("bootstrap").asText());
        props.put(AdminClientConfig.SECURITY_PROTOCOL_CONFIG, plan.get("security_protocol").asText());
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "30000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, String.valueOf(TIMEOUT_S * 1000));
        props.put("sasl.mechanism", plan.get("sasl_mechanism").asText());
        JsonNode admin = plan.get("admin");
        String module = plan.get("sasl_mechanism").asText().startsWith("SCRAM")
            ? "org.apache.kafka.common.security.scram.ScramLoginModule"
            : "org.apache.kafka.common.security.plain.PlainLoginModule";
        props.put("sasl.jaas.config", module + " required username=\"" + admin.get("name").asText()
            + "\" password=\"" + admin.get("password").asText() + "\";");
        return props;
    }

    /** Creates the users the cluster does not know, and resets those whose password was just (re)generated. */
    private static int users(Admin admin, JsonNode wanted) throws Exception {
        Set<String> known = new HashSet<>();
        Map<String, UserScramCredentialsDescription> described =
            admin.describeUserScramCredentials().all().get(TIMEOUT_S, TimeUnit.SECONDS);
        for (UserScramCredentialsDescription description : described.values()) {
            for (ScramCredentialInfo info : description.credentialInfos()) {
                if (info.mechanism() == ScramMechanism.SCRAM_SHA_512) {
                    known.add(description.name());
                }
            }
        }
        List<UserScramCredentialAlteration> alterations = new ArrayList<>();
        for (JsonNode user : wanted) {
            String name = user.get("name").asText();
            if (!known.contains(name) || user.path("reset").asBoolean(false)) {
                alterations.add(new UserScramCredentialUpsertion(
                    name, new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                    user.get("password").asText().getBytes(StandardCharsets.UTF_8)));
            }
        }
        if (!alterations.isEmpty()) {
            admin.alterUserScramCredentials(alterations).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        }
        return alterations.size();
    }

    /** Makes the managed bindings exactly the wanted ones: creates what is missing, deletes what is stale. */
    private static String acls(Admin admin, JsonNode plan) throws Exception {
        Set<AclBinding> wanted = new LinkedHashSet<>();
        for (JsonNode acl : plan.get("acls")) {
            wanted.add(new AclBinding(
                new ResourcePattern(ResourceType.valueOf(acl.get("resource").asText()), acl.get("name").asText(),
                    PatternType.LITERAL),
                new AccessControlEntry(acl.get("principal").asText(), "*",
                    AclOperation.valueOf(acl.get("operation").asText()), AclPermissionType.ALLOW)));
        }
        JsonNode managed = plan.get("managed");
        String prefix = managed.get("prefix").asText();
        Map<ResourceType, List<Pattern>> patterns = new HashMap<>();
        for (ResourceType type : List.of(ResourceType.TOPIC, ResourceType.GROUP)) {
            List<Pattern> compiled = new ArrayList<>();
            for (JsonNode regex : managed.path(type.name())) {
                compiled.add(Pattern.compile(regex.asText()));
            }
            patterns.put(type, compiled);
        }
        Set<AclBinding> existing = new HashSet<>(admin.describeAcls(AclBindingFilter.ANY).values()
            .get(TIMEOUT_S, TimeUnit.SECONDS));
        List<AclBindingFilter> stale = new ArrayList<>();
        for (AclBinding binding : existing) {
            if (isManaged(binding.pattern(), prefix, patterns) && !wanted.contains(binding)) {
                stale.add(new AclBindingFilter(binding.pattern().toFilter(), binding.entry().toFilter()));
            }
        }
        List<AclBinding> missing = new ArrayList<>();
        for (AclBinding binding : wanted) {
            if (!existing.contains(binding)) {
                missing.add(binding);
            }
        }
        if (!stale.isEmpty()) {
            admin.deleteAcls(stale).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        }
        if (!missing.isEmpty()) {
            admin.createAcls(missing).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        }
        return "created " + missing.size() + ", deleted " + stale.size() + ", kept "
            + (wanted.size() - missing.size()) + " (prefix '" + prefix + "')";
    }

    private static boolean isManaged(ResourcePattern pattern, String prefix, Map<ResourceType, List<Pattern>> patterns) {
        List<Pattern> candidates = patterns.get(pattern.resourceType());
        if (candidates == null || pattern.patternType() != PatternType.LITERAL || !pattern.name().startsWith(prefix)) {
            return false;
        }
        String rest = pattern.name().substring(prefix.length());
        for (Pattern candidate : candidates) {
            if (candidate.matcher(rest).matches()) {
                return true;
            }
        }
        return false;
    }
}

/*
 * keyward sample client for Java 17 (JDK only, no build tool).
 *
 * Signs requests with the two HMAC schemes described in docs/schemes.md:
 *
 *   query-hmac  (DevResults)  t, ms and s in the query string
 *   header-hmac (Devo)        x-logtrust-* headers
 *
 * Use it as a library (copy the class, or the methods you need):
 *
 *   String url = KeywardClient.signUrl("https://api.example.com/api/activities?page=1", token, secret, KeywardClient.nowMs());
 *   Map<String, String> headers = KeywardClient.signHeaders(token, secret, body, KeywardClient.nowMs(), KeyKind.DOMAIN);
 *
 * or from the command line (single-file source launch):
 *
 *   java KeywardClient.java check-vectors [VECTORS_DIR]
 *   KEYWARD_URL=... KEYWARD_KEY=... KEYWARD_SECRET=... java KeywardClient.java live
 *   KEYWARD_URL=... KEYWARD_KEY=... KEYWARD_PRIVATE_KEY_FILE=key.pem java KeywardClient.java ed25519
 *
 * `ed25519` signs with RFC 9421 and an Ed25519 private key (a public-key credential: keyward
 * holds only the public key; `keyward keygen` writes the private one), with the JDK's own
 * Ed25519 (java.security, Java 15+). It first reproduces RFC 9421's own Ed25519 example byte
 * for byte.
 */

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public final class KeywardClient {

    /** Order of the query-hmac parameters in the string-to-sign. New clients should use BYTEWISE. */
    public enum Order {
        /** Canonical: sorted by the decoded key's bytes. */
        BYTEWISE,
        /** The order the parameters appear in the URL. */
        URL,
        /** Stable sort by the ASCII-lower-cased decoded key. */
        CASE_INSENSITIVE;

        static Order parse(String name) {
            return valueOf(name.toUpperCase().replace('-', '_'));
        }
    }

    /** Which header carries the API key in header-hmac. */
    public enum KeyKind {
        DOMAIN("x-logtrust-domain-apikey"),
        RESELLER("x-logtrust-reseller-apikey"),
        /** Devo Query API style; keyward treats it as a domain key. */
        APIKEY("x-logtrust-apikey");

        public final String header;

        KeyKind(String header) {
            this.header = header;
        }
    }

    /** One decoded query parameter. */
    public record Param(byte[] key, byte[] value) {}

    private KeywardClient() {}

    /** Current Unix time in milliseconds, as a decimal string. */
    public static String nowMs() {
        return Long.toString(System.currentTimeMillis());
    }

    /** Lower-case hex HMAC-SHA256; the key is the secret's UTF-8 bytes, used as is. */
    public static String hmacHex(String secret, byte[] data) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            return HexFormat.of().formatHex(mac.doFinal(data));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is not available", e);
        }
    }

    // -------------------------------------------------------------------------------------------
    // query-hmac
    // -------------------------------------------------------------------------------------------

    /**
     * Form-decodes one key or value to raw bytes: '+' is a space, %XX (either case) is one byte,
     * and a '%' not followed by two hex digits stays a literal '%'. Nothing is re-encoded.
     */
    public static byte[] formDecode(String text) {
        byte[] in = text.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream(in.length);
        for (int i = 0; i < in.length; i++) {
            byte b = in[i];
            if (b == '+') {
                out.write(' ');
            } else if (b == '%' && i + 2 < in.length && hexValue(in[i + 1]) >= 0 && hexValue(in[i + 2]) >= 0) {
                out.write(hexValue(in[i + 1]) * 16 + hexValue(in[i + 2]));
                i += 2;
            } else {
                out.write(b);
            }
        }
        return out.toByteArray();
    }

    private static int hexValue(byte b) {
        if (b >= '0' && b <= '9') {
            return b - '0';
        }
        if (b >= 'a' && b <= 'f') {
            return b - 'a' + 10;
        }
        if (b >= 'A' && b <= 'F') {
            return b - 'A' + 10;
        }
        return -1;
    }

    /**
     * Parses a raw query string (without '?') into parameters in URL order. Empty segments are
     * skipped; a segment without '=' is a key with an empty value.
     */
    public static List<Param> parseQuery(String query) {
        List<Param> params = new ArrayList<>();
        for (String segment : query.split("&", -1)) {
            if (segment.isEmpty()) {
                continue;
            }
            int eq = segment.indexOf('=');
            params.add(eq < 0
                    ? new Param(formDecode(segment), new byte[0])
                    : new Param(formDecode(segment.substring(0, eq)), formDecode(segment.substring(eq + 1))));
        }
        return params;
    }

    /**
     * The query-hmac string-to-sign: every parameter but 's', as "key|value|" pairs.
     *
     * @param skipBlankValues leave out parameters whose value is empty (only accepted by servers
     *     configured with blank_values = skipped); false signs them as "key||"
     */
    public static byte[] queryStringToSign(String query, Order order, boolean skipBlankValues) {
        List<Param> params = new ArrayList<>();
        for (Param p : parseQuery(query)) {
            boolean isS = Arrays.equals(p.key(), new byte[] {'s'});
            if (!isS && !(skipBlankValues && p.value().length == 0)) {
                params.add(p);
            }
        }
        // List.sort is stable, so keys that compare equal keep their URL order.
        switch (order) {
            case BYTEWISE -> params.sort((a, b) -> Arrays.compareUnsigned(a.key(), b.key()));
            case CASE_INSENSITIVE -> params.sort(
                    Comparator.comparing((Param p) -> asciiLower(p.key()), Arrays::compareUnsigned));
            case URL -> { }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Param p : params) {
            out.writeBytes(p.key());
            out.write('|');
            out.writeBytes(p.value());
            out.write('|');
        }
        return out.toByteArray();
    }

    public static byte[] queryStringToSign(String query) {
        return queryStringToSign(query, Order.BYTEWISE, false);
    }

    private static byte[] asciiLower(byte[] bytes) {
        byte[] lower = bytes.clone();
        for (int i = 0; i < lower.length; i++) {
            if (lower[i] >= 'A' && lower[i] <= 'Z') {
                lower[i] += 'a' - 'A';
            }
        }
        return lower;
    }

    /**
     * Signs a URL with query-hmac: appends t and ms, then s = hex HMAC-SHA256(secret,
     * string-to-sign). The URL may already have a query (its parameters are signed too) but no t,
     * ms or s.
     */
    /** The path the live commands call: KEYWARD_PATH, below KEYWARD_URL [default: /api/activities]. */
    static String resource() {
        String path = System.getenv("KEYWARD_PATH");
        return path == null || path.isEmpty() ? "/api/activities" : path;
    }

    public static String signUrl(String url, String token, String secret, String ms) {
        String fragment = "";
        int hash = url.indexOf('#');
        if (hash >= 0) {
            fragment = url.substring(hash);
            url = url.substring(0, hash);
        }
        int q = url.indexOf('?');
        String base = q < 0 ? url : url.substring(0, q);
        String query = q < 0 ? "" : url.substring(q + 1);
        Set<String> seen = new HashSet<>();
        for (Param p : parseQuery(query)) {
            String key = new String(p.key(), StandardCharsets.UTF_8);
            if (key.equals("t") || key.equals("ms") || key.equals("s")) {
                throw new IllegalArgumentException("the URL already has a '" + key + "' parameter");
            }
            if (!seen.add(key)) {
                throw new IllegalArgumentException("parameter '" + key + "' is repeated; keyward refuses that");
            }
        }
        String separator = query.isEmpty() || query.endsWith("&") ? "" : "&";
        query += separator + "t=" + URLEncoder.encode(token, StandardCharsets.UTF_8)
                + "&ms=" + URLEncoder.encode(ms, StandardCharsets.UTF_8);
        String s = hmacHex(secret, queryStringToSign(query));
        return base + "?" + query + "&s=" + s + fragment;
    }

    // -------------------------------------------------------------------------------------------
    // header-hmac
    // -------------------------------------------------------------------------------------------

    /** The header-hmac string-to-sign: API key + body bytes + timestamp text, no separators. */
    public static byte[] headerStringToSign(String apiKey, byte[] body, String timestamp) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(apiKey.getBytes(StandardCharsets.UTF_8));
        out.writeBytes(body);
        out.writeBytes(timestamp.getBytes(StandardCharsets.UTF_8));
        return out.toByteArray();
    }

    /** Signs a request body with header-hmac; send exactly these body bytes. */
    public static Map<String, String> signHeaders(
            String token, String secret, byte[] body, String timestamp, KeyKind kind) {
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put(kind.header, token);
        headers.put("x-logtrust-timestamp", timestamp);
        headers.put("x-logtrust-sign", hmacHex(secret, headerStringToSign(token, body, timestamp)));
        return headers;
    }

    // -------------------------------------------------------------------------------------------
    // check-vectors
    // -------------------------------------------------------------------------------------------

    static int checkVectors(Path root) throws IOException {
        int passed = 0;
        int failed = 0;
        for (String scheme : List.of("query-hmac", "header-hmac")) {
            List<Path> cases = List.of();
            Path dir = root.resolve(scheme);
            if (Files.isDirectory(dir)) {
                try (Stream<Path> list = Files.list(dir)) {
                    cases = list.filter(Files::isDirectory).sorted().toList();
                }
            }
            if (cases.isEmpty()) {
                System.out.println("FAIL " + scheme + ": no cases under " + dir);
                failed++;
            }
            for (Path c : cases) {
                String result;
                try {
                    result = checkCase(scheme, c);
                } catch (Exception e) {
                    result = e.toString();
                }
                if ("skip".equals(result)) {
                    continue;
                }
                if (result == null) {
                    passed++;
                } else {
                    failed++;
                    System.out.println("FAIL " + scheme + "/" + c.getFileName() + ": " + result);
                }
            }
        }
        System.out.println(passed + " passed, " + failed + " failed");
        return failed == 0 && passed > 0 ? 0 : 1;
    }

    /**
     * Returns null when the case passes, "skip" when a client has nothing to compute (a negative
     * case without string-to-sign.txt), or a description of what differs.
     */
    static String checkCase(String scheme, Path dir) throws IOException {
        Object context = Json.parse(Files.readString(dir.resolve("context.json")));
        byte[] expectedSts = readOptional(dir.resolve("string-to-sign.txt"));
        byte[] expectedSigBytes = readOptional(dir.resolve("signature.txt"));
        String expectedSig = expectedSigBytes == null ? null : new String(expectedSigBytes, StandardCharsets.UTF_8);
        boolean sign = Boolean.TRUE.equals(Json.get(context, "sign"));
        if (!sign && expectedSts == null) {
            return "skip";
        }
        String secret = (String) Json.get(context, "key", "secret");
        String order = (String) Json.get(context, "options", "order");
        String blankValues = (String) Json.get(context, "options", "blank_values");

        String[] lines = Files.readString(dir.resolve("request.txt")).split("\n", -1);
        String target = lines[0].split(" ", 3)[1];
        List<String[]> headers = new ArrayList<>();
        for (int i = 1; i < lines.length; i++) {
            int colon = lines[i].indexOf(':');
            headers.add(new String[] {
                lines[i].substring(0, colon).strip().toLowerCase(), lines[i].substring(colon + 1).strip()
            });
        }
        byte[] body = readOptional(dir.resolve("body.txt"));
        if (body == null) {
            body = new byte[0];
        }

        byte[] sts;
        String sig;
        if (scheme.equals("query-hmac")) {
            int q = target.indexOf('?');
            String query = q < 0 ? "" : target.substring(q + 1);
            sts = sign
                    ? queryStringToSign(query, order == null ? Order.BYTEWISE : Order.parse(order),
                            "skipped".equals(blankValues))
                    : queryStringToSign(query);
            sig = hmacHex(secret, sts);
        } else {
            List<KeyKind> kinds = new ArrayList<>();
            String apiKey = null;
            List<String> timestamps = new ArrayList<>();
            for (String[] h : headers) {
                for (KeyKind kind : KeyKind.values()) {
                    if (h[0].equals(kind.header)) {
                        kinds.add(kind);
                        apiKey = h[1];
                    }
                }
                if (h[0].equals("x-logtrust-timestamp")) {
                    timestamps.add(h[1]);
                }
            }
            if (kinds.size() != 1 || timestamps.size() != 1) {
                return "no single key header and timestamp in request.txt";
            }
            sts = headerStringToSign(apiKey, body, timestamps.get(0));
            sig = signHeaders(apiKey, secret, body, timestamps.get(0), kinds.get(0)).get("x-logtrust-sign");
        }

        List<String> problems = new ArrayList<>();
        if (expectedSts != null && !Arrays.equals(sts, expectedSts)) {
            problems.add("string-to-sign is \"" + new String(sts, StandardCharsets.UTF_8) + "\", expected \""
                    + new String(expectedSts, StandardCharsets.UTF_8) + "\"");
        }
        if (sign && !sig.equals(expectedSig)) {
            problems.add("signature is " + sig + ", expected " + (expectedSig == null ? "(no signature.txt)" : expectedSig));
        }
        if (!sign && expectedSig != null && expectedSts != null) {
            // e.g. rotation-previous-secret: the signature must be the HMAC with one of the secrets.
            String previous = (String) Json.get(context, "key", "previous_secret");
            boolean ok = hmacHex(secret, expectedSts).equals(expectedSig)
                    || (previous != null && hmacHex(previous, expectedSts).equals(expectedSig));
            if (!ok) {
                problems.add("signature.txt is not the HMAC of string-to-sign.txt with the current or previous secret");
            }
        }
        return problems.isEmpty() ? null : String.join("; ", problems);
    }

    private static byte[] readOptional(Path path) throws IOException {
        return Files.isRegularFile(path) ? Files.readAllBytes(path) : null;
    }

    /** ../../vectors next to this source file, or ./vectors when the source file is unknown. */
    private static Path defaultVectorsDir() {
        String source = System.getProperty("jdk.launcher.sourcefile");
        if (source == null) {
            try {
                source = Path.of(KeywardClient.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
            } catch (Exception e) {
                return Path.of("vectors");
            }
        }
        return Path.of(source).toAbsolutePath().getParent().resolve("../../vectors").normalize();
    }

    // -------------------------------------------------------------------------------------------
    // live
    // -------------------------------------------------------------------------------------------

    static int live() {
        String base = System.getenv().getOrDefault("KEYWARD_URL", "").replaceAll("/+$", "");
        String token = System.getenv().getOrDefault("KEYWARD_KEY", "");
        String secret = System.getenv().getOrDefault("KEYWARD_SECRET", "");
        if (base.isEmpty() || token.isEmpty() || secret.isEmpty()) {
            System.err.println("live needs KEYWARD_URL, KEYWARD_KEY and KEYWARD_SECRET");
            return 2;
        }
        HttpClient client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10))
                .build();

        // (a) query-hmac GET
        String url = signUrl(base + resource() + "?page=1", token, secret, nowMs());
        HttpRequest get = HttpRequest.newBuilder(URI.create(url))
                .header("Accept", "application/json")
                .GET()
                .build();
        boolean okGet = send(client, get, "query-hmac  GET  " + resource() + "?page=1");

        // (b) header-hmac POST; the bytes signed are the bytes sent.
        byte[] body = "{\"data\":{\"name\":\"from java\"}}".getBytes(StandardCharsets.UTF_8);
        HttpRequest.Builder post = HttpRequest.newBuilder(URI.create(base + resource()))
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        signHeaders(token, secret, body, nowMs(), KeyKind.DOMAIN).forEach(post::header);
        boolean okPost = send(client, post.build(), "header-hmac POST " + resource());

        return okGet && okPost ? 0 : 1;
    }

    private static boolean send(HttpClient client, HttpRequest request, String label) {
        int status;
        String body;
        try {
            HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
            status = response.statusCode();
            body = response.body();
        } catch (IOException e) {
            status = 0;
            body = "request failed: " + e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            status = 0;
            body = e.toString();
        }
        System.out.println(label + " -> " + status);
        if (status >= 200 && status <= 299) {
            return true;
        }
        System.out.println("  " + body);
        return false;
    }

    // -------------------------------------------------------------------------------------------
    // ed25519: RFC 9421 with a private key
    // -------------------------------------------------------------------------------------------

    /** A PKCS#8 PEM Ed25519 private key. */
    public static PrivateKey ed25519Key(String pem) throws GeneralSecurityException {
        String base64 = pem.replaceAll("-----[^-]+-----", "").replaceAll("\\s", "");
        byte[] der = Base64.getDecoder().decode(base64);
        return KeyFactory.getInstance("Ed25519").generatePrivate(new PKCS8EncodedKeySpec(der));
    }

    /** The Ed25519 signature of `base` (an RFC 9421 signature base), base64. */
    public static String ed25519Signature(PrivateKey key, byte[] base) throws GeneralSecurityException {
        Signature signer = Signature.getInstance("Ed25519");
        signer.initSign(key);
        signer.update(base);
        return Base64.getEncoder().encodeToString(signer.sign());
    }

    /**
     * The headers that sign `method url` (and `body`) for keyid `token` with an Ed25519 key:
     * Content-Digest with a body, Signature-Input and Signature, over @method, @authority,
     * @path, @query (with a query) and content-digest.
     */
    public static Map<String, String> signEd25519(String method, String url, String token, PrivateKey key, byte[] body)
            throws GeneralSecurityException {
        URI uri = URI.create(url);
        Map<String, String> headers = new LinkedHashMap<>();
        List<String> lines = new ArrayList<>(List.of(
                "\"@method\": " + method,
                "\"@authority\": " + uri.getRawAuthority().toLowerCase(java.util.Locale.ROOT),
                "\"@path\": " + uri.getRawPath()));
        List<String> components = new ArrayList<>(List.of("\"@method\"", "\"@authority\"", "\"@path\""));
        if (uri.getRawQuery() != null) {
            lines.add("\"@query\": ?" + uri.getRawQuery());
            components.add("\"@query\"");
        }
        if (body.length > 0) {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(body);
            headers.put("Content-Digest", "sha-256=:" + Base64.getEncoder().encodeToString(digest) + ":");
            lines.add("\"content-digest\": " + headers.get("Content-Digest"));
            components.add("\"content-digest\"");
        }
        byte[] nonce = new byte[12];
        new SecureRandom().nextBytes(nonce);
        String params = "(" + String.join(" ", components) + ");created=" + (System.currentTimeMillis() / 1000)
                + ";keyid=\"" + token + "\";alg=\"ed25519\";nonce=\"" + HexFormat.of().formatHex(nonce) + "\"";
        lines.add("\"@signature-params\": " + params);
        headers.put("Signature-Input", "sig1=" + params);
        byte[] base = String.join("\n", lines).getBytes(StandardCharsets.UTF_8);
        headers.put("Signature", "sig1=:" + ed25519Signature(key, base) + ":");
        return headers;
    }

    static int ed25519() throws IOException, GeneralSecurityException {
        // RFC 9421 Appendix B.2.6, reproduced: Ed25519 is deterministic.
        String env = System.getenv("KEYWARD_VECTORS");
        Path vectors = env != null && !env.isEmpty() ? Path.of(env) : defaultVectorsDir();
        Path vector = vectors.resolve("http-signature/rfc9421-b26");
        Object context = Json.parse(Files.readString(vector.resolve("context.json")));
        PrivateKey rfcKey = ed25519Key((String) Json.get(context, "key", "private_key"));
        String produced = "sig-b26=:" + ed25519Signature(rfcKey, Files.readAllBytes(vector.resolve("signature-base.txt"))) + ":";
        boolean ok = produced.equals(Files.readString(vector.resolve("signature.txt")));
        System.out.println("RFC 9421 B.2.6 " + (ok ? "reproduced" : "differs: " + produced));

        String base = System.getenv().getOrDefault("KEYWARD_URL", "").replaceAll("/+$", "");
        String token = System.getenv().getOrDefault("KEYWARD_KEY", "");
        String keyFile = System.getenv().getOrDefault("KEYWARD_PRIVATE_KEY_FILE", "");
        if (base.isEmpty() || token.isEmpty() || keyFile.isEmpty()) {
            System.err.println("ed25519 needs KEYWARD_URL, KEYWARD_KEY and KEYWARD_PRIVATE_KEY_FILE");
            return 2;
        }
        PrivateKey key = ed25519Key(Files.readString(Path.of(keyFile)));
        HttpClient client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10))
                .build();
        String url = base + resource() + "?page=1";
        HttpRequest.Builder get = HttpRequest.newBuilder(URI.create(url)).header("Accept", "application/json").GET();
        signEd25519("GET", url, token, key, new byte[0]).forEach(get::header);
        ok &= send(client, get.build(), "ed25519 GET  " + resource() + "?page=1");
        byte[] body = "{\"data\":{\"name\":\"from java, ed25519\"}}".getBytes(StandardCharsets.UTF_8);
        url = base + resource();
        HttpRequest.Builder post = HttpRequest.newBuilder(URI.create(url))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        signEd25519("POST", url, token, key, body).forEach(post::header);
        ok &= send(client, post.build(), "ed25519 POST " + resource());
        return ok ? 0 : 1;
    }

    // -------------------------------------------------------------------------------------------

    public static void main(String[] args) throws IOException, GeneralSecurityException {
        String mode = args.length > 0 ? args[0] : "";
        int code;
        switch (mode) {
            case "check-vectors" -> {
                String env = System.getenv("KEYWARD_VECTORS");
                Path dir = args.length > 1 ? Path.of(args[1])
                        : env != null && !env.isEmpty() ? Path.of(env)
                        : defaultVectorsDir();
                code = checkVectors(dir);
            }
            case "live" -> code = live();
            case "ed25519" -> code = ed25519();
            default -> {
                System.err.println("usage: java KeywardClient.java check-vectors [VECTORS_DIR] | live | ed25519");
                code = 2;
            }
        }
        System.exit(code);
    }

    /**
     * Just enough JSON for context.json: objects become LinkedHashMap, arrays ArrayList, strings
     * String, numbers Double, true/false Boolean, null null.
     */
    static final class Json {
        private final String text;
        private int pos;

        private Json(String text) {
            this.text = text;
        }

        static Object parse(String text) {
            Json json = new Json(text);
            Object value = json.value();
            json.skipSpace();
            if (json.pos != text.length()) {
                throw json.error("trailing characters");
            }
            return value;
        }

        /** The value at a path of object members, or null when any member is missing. */
        static Object get(Object root, String... path) {
            Object current = root;
            for (String key : path) {
                if (!(current instanceof Map<?, ?> map)) {
                    return null;
                }
                current = map.get(key);
            }
            return current;
        }

        private Object value() {
            skipSpace();
            if (pos >= text.length()) {
                throw error("unexpected end");
            }
            char c = text.charAt(pos);
            switch (c) {
                case '{':
                    return object();
                case '[':
                    return array();
                case '"':
                    return string();
                default:
                    if (text.startsWith("true", pos)) {
                        pos += 4;
                        return Boolean.TRUE;
                    }
                    if (text.startsWith("false", pos)) {
                        pos += 5;
                        return Boolean.FALSE;
                    }
                    if (text.startsWith("null", pos)) {
                        pos += 4;
                        return null;
                    }
                    return number();
            }
        }

        private Map<String, Object> object() {
            Map<String, Object> map = new LinkedHashMap<>();
            expect('{');
            skipSpace();
            if (peek() == '}') {
                pos++;
                return map;
            }
            do {
                skipSpace();
                String key = string();
                skipSpace();
                expect(':');
                map.put(key, value());
                skipSpace();
            } while (consume(','));
            expect('}');
            return map;
        }

        private List<Object> array() {
            List<Object> list = new ArrayList<>();
            expect('[');
            skipSpace();
            if (peek() == ']') {
                pos++;
                return list;
            }
            do {
                list.add(value());
                skipSpace();
            } while (consume(','));
            expect(']');
            return list;
        }

        private String string() {
            expect('"');
            StringBuilder out = new StringBuilder();
            while (true) {
                if (pos >= text.length()) {
                    throw error("unterminated string");
                }
                char c = text.charAt(pos++);
                if (c == '"') {
                    return out.toString();
                }
                if (c != '\\') {
                    out.append(c);
                    continue;
                }
                char e = text.charAt(pos++);
                switch (e) {
                    case '"', '\\', '/' -> out.append(e);
                    case 'b' -> out.append('\b');
                    case 'f' -> out.append('\f');
                    case 'n' -> out.append('\n');
                    case 'r' -> out.append('\r');
                    case 't' -> out.append('\t');
                    case 'u' -> {
                        out.append((char) Integer.parseInt(text.substring(pos, pos + 4), 16));
                        pos += 4;
                    }
                    default -> throw error("bad escape \\" + e);
                }
            }
        }

        private Double number() {
            int start = pos;
            while (pos < text.length() && "+-0123456789.eE".indexOf(text.charAt(pos)) >= 0) {
                pos++;
            }
            if (start == pos) {
                throw error("unexpected character '" + text.charAt(pos) + "'");
            }
            return Double.valueOf(text.substring(start, pos));
        }

        private void skipSpace() {
            while (pos < text.length() && " \t\r\n".indexOf(text.charAt(pos)) >= 0) {
                pos++;
            }
        }

        private char peek() {
            return pos < text.length() ? text.charAt(pos) : '\0';
        }

        private boolean consume(char c) {
            if (peek() == c) {
                pos++;
                return true;
            }
            return false;
        }

        private void expect(char c) {
            if (!consume(c)) {
                throw error("expected '" + c + "'");
            }
        }

        private IllegalArgumentException error(String message) {
            return new IllegalArgumentException("JSON: " + message + " at offset " + pos);
        }
    }
}

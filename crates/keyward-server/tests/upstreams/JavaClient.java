import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

/**
 * Java's own HTTP client, as applications use it: `java JavaClient.java URL TOKEN` sends a GET
 * with a bearer token and prints the status, then the body. Its default version is HTTP/2, so on
 * a plain-HTTP URL it offers an h2c upgrade (`Connection: Upgrade, HTTP2-Settings`).
 */
public class JavaClient {
    public static void main(String[] args) throws Exception {
        HttpClient client = HttpClient.newHttpClient();
        HttpRequest request = HttpRequest.newBuilder(URI.create(args[0]))
            .header("Authorization", "Bearer " + args[1])
            .GET()
            .build();
        HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
        System.out.println(response.statusCode());
        System.out.println(response.body());
    }
}

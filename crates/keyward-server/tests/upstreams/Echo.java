import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

/**
 * An upstream on Apache Tomcat: answers every request with what a servlet sees. Tomcat cuts
 * path parameters (`;jsessionid=...`) from each segment and then resolves dot segments, so
 * `/public/..;/admin/x` is the servlet path `/admin/x`.
 */
public class Echo extends HttpServlet {
    @Override
    protected void service(HttpServletRequest request, HttpServletResponse response) throws IOException {
        String path = request.getServletPath() + (request.getPathInfo() == null ? "" : request.getPathInfo());
        response.setContentType("application/json");
        response.getWriter().write("{\"server\":\"tomcat\""
            + ",\"method\":" + json(request.getMethod())
            + ",\"path\":" + json(path)
            + ",\"principal\":" + json(request.getHeader("X-Keyward-Principal"))
            + ",\"permissions\":" + json(request.getHeader("X-Keyward-Permissions"))
            + ",\"reseller\":" + json(request.getHeader("X-Keyward-Reseller"))
            + ",\"forwarded_for\":" + json(request.getHeader("X-Forwarded-For"))
            + ",\"cookie\":" + json(request.getHeader("Cookie"))
            + "}");
    }

    private static String json(String value) {
        if (value == null) {
            return "null";
        }
        StringBuilder out = new StringBuilder("\"");
        for (char c : value.toCharArray()) {
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }
}

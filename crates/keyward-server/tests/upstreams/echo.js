// An upstream on Node's http module (node echo.js PORT): answers every request with what an
// Express application sees, its method read as the method-override middleware reads it
// (X-HTTP-Method-Override on a POST), its path as WHATWG URL parsing resolves it.
const http = require('http');

http.createServer((request, response) => {
  let method = request.method;
  const override = request.headers['x-http-method-override'];
  if (method === 'POST' && override) method = override.toUpperCase();
  const path = decodeURIComponent(new URL(request.url, 'http://upstream').pathname);
  const served = {
    server: 'node',
    method,
    path,
    principal: request.headers['x-keyward-principal'] ?? null,
    permissions: request.headers['x-keyward-permissions'] ?? null,
    reseller: request.headers['x-keyward-reseller'] ?? null,
    forwarded_for: request.headers['x-forwarded-for'] ?? null,
    cookie: request.headers['cookie'] ?? null,
  };
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(served));
  });
}).listen(Number(process.argv[2]), '127.0.0.1');

<?php
// An upstream on PHP's built-in server (php -S 127.0.0.1:PORT echo.php): answers every request
// with what a PHP application sees. PHP maps every header to $_SERVER['HTTP_...'], `-` and `_`
// alike; the method is read as Laravel and Symfony read it, honouring X-HTTP-Method-Override
// and `_method` (body or query) on a POST.
$method = $_SERVER['REQUEST_METHOD'];
if ($method === 'POST') {
    $override = $_SERVER['HTTP_X_HTTP_METHOD_OVERRIDE'] ?? $_POST['_method'] ?? $_GET['_method'] ?? null;
    if ($override !== null) {
        $method = strtoupper($override);
    }
}
header('Content-Type: application/json');
echo json_encode([
    'server' => 'php',
    'method' => $method,
    'path' => rawurldecode(parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH)),
    'principal' => $_SERVER['HTTP_X_KEYWARD_PRINCIPAL'] ?? null,
    'permissions' => $_SERVER['HTTP_X_KEYWARD_PERMISSIONS'] ?? null,
    'reseller' => $_SERVER['HTTP_X_KEYWARD_RESELLER'] ?? null,
    'forwarded_for' => $_SERVER['HTTP_X_FORWARDED_FOR'] ?? null,
    'cookie' => $_SERVER['HTTP_COOKIE'] ?? null,
]);

# frozen_string_literal: true

# keyward sample client for Ruby 3 (standard library only).
#
# Signs requests with the two HMAC schemes described in docs/schemes.md:
#
#   query-hmac  (DevResults)  t, ms and s in the query string
#   header-hmac (Devo)        x-logtrust-* headers
#
# Use it as a library:
#
#   require_relative 'keyward_client'
#   url     = Keyward.sign_url('https://api.example.com/api/activities?page=1', token, secret)
#   headers = Keyward.sign_headers(token, secret, body)
#
# or from the command line:
#
#   ruby keyward_client.rb check-vectors [VECTORS_DIR]
#   KEYWARD_URL=... KEYWARD_KEY=... KEYWARD_SECRET=... ruby keyward_client.rb live
#   KEYWARD_URL=... KEYWARD_KEY=... KEYWARD_PRIVATE_KEY_FILE=key.pem ruby keyward_client.rb ed25519
#
# `ed25519` signs with RFC 9421 and an Ed25519 private key (a public-key credential: keyward
# holds only the public key; `keyward keygen` writes the private one), with the standard
# library's OpenSSL. It first reproduces RFC 9421's own Ed25519 example byte for byte.

require 'base64'
require 'digest'
require 'json'
require 'net/http'
require 'openssl'
require 'securerandom'
require 'uri'

module Keyward
  KEY_HEADERS = {
    'domain' => 'x-logtrust-domain-apikey',
    'reseller' => 'x-logtrust-reseller-apikey',
    'apikey' => 'x-logtrust-apikey' # Devo Query API style; keyward treats it as a domain key
  }.freeze

  module_function

  # The path the live commands call: KEYWARD_PATH, below KEYWARD_URL [default: /api/activities].
  def resource
    path = ENV.fetch('KEYWARD_PATH', '')
    path.empty? ? '/api/activities' : path
  end

  # Current Unix time in milliseconds, as a decimal string.
  def now_ms
    Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond).to_s
  end

  # Lower-case hex HMAC-SHA256; the key is the secret's UTF-8 bytes, used as is.
  def hmac_hex(secret, data)
    OpenSSL::HMAC.hexdigest('SHA256', secret.b, data.b)
  end

  # --------------------------------------------------------------------------------------------
  # query-hmac
  # --------------------------------------------------------------------------------------------

  # Form-decodes one key or value to raw bytes: '+' is a space, %XX (either case) is one byte,
  # and a '%' not followed by two hex digits stays a literal '%'. Nothing is re-encoded.
  def form_decode(text)
    text.b.tr('+', ' ').gsub(/%(\h\h)/n) { Regexp.last_match(1).hex.chr }
  end

  # Parses a raw query string (without '?') into [key, value] pairs in URL order. Empty segments
  # are skipped; a segment without '=' is a key with an empty value.
  def parse_query(query)
    query.b.split('&').reject(&:empty?).map do |segment|
      key, value = segment.split('=', 2)
      [form_decode(key), form_decode(value || '')]
    end
  end

  # The query-hmac string-to-sign: every parameter but 's', as "key|value|" pairs.
  #
  # order:        :bytewise (canonical; what new clients should use), :url or :case_insensitive
  #               (stable sort by the ASCII-lower-cased key)
  # blank_values: :signed (default) or :skipped (leave out parameters whose value is empty; only
  #               accepted by servers configured for it)
  def query_string_to_sign(query, order: :bytewise, blank_values: :signed)
    pairs = parse_query(query).reject do |key, value|
      key == 's' || (blank_values == :skipped && value.empty?)
    end
    # Ruby's sort_by is not stable, so the URL position breaks ties.
    pairs = case order
            when :bytewise then pairs.each_with_index.sort_by { |(key, _), i| [key, i] }.map(&:first)
            when :case_insensitive
              pairs.each_with_index.sort_by { |(key, _), i| [key.tr('A-Z', 'a-z'), i] }.map(&:first)
            when :url then pairs
            else raise ArgumentError, "unknown order: #{order}"
            end
    pairs.map { |key, value| "#{key}|#{value}|".b }.join.b
  end

  # Signs a URL with query-hmac: appends t and ms, then s = hex HMAC-SHA256(secret, string-to-sign).
  # The URL may already have a query (its parameters are signed too) but no t, ms or s.
  def sign_url(url, token, secret, ms = nil)
    ms = (ms || now_ms).to_s
    url, mark, fragment = url.partition('#')
    base, _, query = url.partition('?')
    keys = parse_query(query).map(&:first)
    if (reserved = keys.find { |key| %w[t ms s].include?(key) })
      raise ArgumentError, "the URL already has a '#{reserved}' parameter"
    end
    if (repeated = keys.find { |key| keys.count(key) > 1 })
      raise ArgumentError, "parameter '#{repeated}' is repeated; keyward refuses that"
    end

    separator = query.empty? || query.end_with?('&') ? '' : '&'
    query = "#{query}#{separator}t=#{URI.encode_www_form_component(token)}" \
            "&ms=#{URI.encode_www_form_component(ms)}"
    signature = hmac_hex(secret, query_string_to_sign(query))
    "#{base}?#{query}&s=#{signature}#{mark}#{fragment}"
  end

  # --------------------------------------------------------------------------------------------
  # header-hmac
  # --------------------------------------------------------------------------------------------

  # The header-hmac string-to-sign: API key + body bytes + timestamp text, no separators.
  def header_string_to_sign(api_key, body, timestamp)
    api_key.b + body.b + timestamp.b
  end

  # Signs a request body with header-hmac; send the body exactly as passed here.
  # kind: 'domain' or 'reseller' (or 'apikey' for the plain x-logtrust-apikey header).
  def sign_headers(token, secret, body = '', timestamp = nil, kind: 'domain')
    key_header = KEY_HEADERS.fetch(kind.to_s) { raise ArgumentError, "unknown key kind: #{kind}" }
    timestamp = (timestamp || now_ms).to_s
    {
      key_header => token,
      'x-logtrust-timestamp' => timestamp,
      'x-logtrust-sign' => hmac_hex(secret, header_string_to_sign(token, body, timestamp))
    }
  end

  # --------------------------------------------------------------------------------------------
  # check-vectors
  # --------------------------------------------------------------------------------------------

  module Vectors
    module_function

    # request.txt: request line, then "Name: value" lines joined by "\n".
    def parse_request(text)
      request_line, *header_lines = text.split("\n")
      _method, target, = request_line.split(' ', 3)
      headers = header_lines.map do |line|
        name, value = line.split(':', 2)
        [name.strip.downcase, value.to_s.strip]
      end
      [target, headers]
    end

    def read_optional(path)
      File.file?(path) ? File.binread(path) : nil
    end

    # Returns nil when the case passes, :skip when a client has nothing to compute (a negative
    # case without string-to-sign.txt), or a description of what differs.
    def check_case(scheme, dir)
      context = JSON.parse(File.read(File.join(dir, 'context.json'), encoding: 'UTF-8'))
      expected_sts = read_optional(File.join(dir, 'string-to-sign.txt'))
      expected_sig = read_optional(File.join(dir, 'signature.txt'))
      sign = context['sign'] == true
      return :skip if !sign && expected_sts.nil?

      secret = context.dig('key', 'secret')
      options = context['options'] || {}
      target, headers = parse_request(File.binread(File.join(dir, 'request.txt')))
      body = read_optional(File.join(dir, 'body.txt')) || ''.b

      if scheme == 'query-hmac'
        query = target.partition('?').last
        sts = if sign
                Keyward.query_string_to_sign(query,
                                             order: (options['order'] || 'bytewise').tr('-', '_').to_sym,
                                             blank_values: (options['blank_values'] || 'signed').to_sym)
              else
                Keyward.query_string_to_sign(query)
              end
        sig = Keyward.hmac_hex(secret, sts)
      else
        kinds = KEY_HEADERS.select { |_, name| headers.any? { |h, _| h == name } }.keys
        timestamps = headers.select { |h, _| h == 'x-logtrust-timestamp' }.map(&:last)
        return 'no single key header and timestamp in request.txt' unless kinds.size == 1 && timestamps.size == 1

        api_key = headers.find { |h, _| h == KEY_HEADERS[kinds.first] }.last
        sts = Keyward.header_string_to_sign(api_key, body, timestamps.first)
        sig = Keyward.sign_headers(api_key, secret, body, timestamps.first, kind: kinds.first)['x-logtrust-sign']
      end

      problems = []
      if expected_sts && sts != expected_sts
        problems << "string-to-sign is #{sts.inspect}, expected #{expected_sts.inspect}"
      end
      problems << "signature is #{sig}, expected #{expected_sig || '(no signature.txt)'}" if sign && sig != expected_sig
      if !sign && expected_sig && expected_sts
        # e.g. rotation-previous-secret: the signature must be the HMAC with one of the secrets.
        secrets = [secret, context.dig('key', 'previous_secret')].compact
        unless secrets.any? { |s| Keyward.hmac_hex(s, expected_sts) == expected_sig }
          problems << 'signature.txt is not the HMAC of string-to-sign.txt with the current or previous secret'
        end
      end
      problems.empty? ? nil : problems.join('; ')
    end

    def run(root)
      passed = 0
      failed = 0
      %w[query-hmac header-hmac].each do |scheme|
        cases = Dir.glob(File.join(root, scheme, '*')).select { |d| File.directory?(d) }.sort
        if cases.empty?
          puts "FAIL #{scheme}: no cases under #{File.join(root, scheme)}"
          failed += 1
        end
        cases.each do |dir|
          result = begin
            check_case(scheme, dir)
          rescue StandardError => e
            "#{e.class}: #{e.message}"
          end
          next if result == :skip

          if result.nil?
            passed += 1
          else
            failed += 1
            puts "FAIL #{scheme}/#{File.basename(dir)}: #{result}"
          end
        end
      end
      puts "#{passed} passed, #{failed} failed"
      failed.zero? && passed.positive? ? 0 : 1
    end
  end

  # --------------------------------------------------------------------------------------------
  # live
  # --------------------------------------------------------------------------------------------

  module Live
    module_function

    def request(request, uri)
      Net::HTTP.start(uri.host, uri.port, use_ssl: uri.scheme == 'https',
                                          open_timeout: 10, read_timeout: 10) do |http|
        response = http.request(request)
        [response.code.to_i, response.body.to_s]
      end
    rescue StandardError => e
      [0, "#{e.class}: #{e.message}"]
    end

    def report(label, status, body)
      puts "#{label} -> #{status}"
      return true if (200..299).cover?(status)

      puts "  #{body}"
      false
    end

    def run
      base = ENV.fetch('KEYWARD_URL', '').chomp('/')
      token = ENV.fetch('KEYWARD_KEY', '')
      secret = ENV.fetch('KEYWARD_SECRET', '')
      if [base, token, secret].any?(&:empty?)
        warn 'live needs KEYWARD_URL, KEYWARD_KEY and KEYWARD_SECRET'
        return 2
      end

      # (a) query-hmac GET
      uri = URI(Keyward.sign_url("#{base}#{Keyward.resource}?page=1", token, secret))
      get = Net::HTTP::Get.new(uri, 'Accept' => 'application/json')
      ok_get = report("query-hmac  GET  #{Keyward.resource}?page=1", *request(get, uri))

      # (b) header-hmac POST; the bytes signed are the bytes sent.
      uri = URI("#{base}#{Keyward.resource}")
      body = JSON.generate({ data: { name: 'from ruby' } })
      headers = { 'Content-Type' => 'application/json', 'Accept' => 'application/json' }
                .merge(Keyward.sign_headers(token, secret, body, kind: 'domain'))
      post = Net::HTTP::Post.new(uri, headers)
      post.body = body
      ok_post = report("header-hmac POST #{Keyward.resource}", *request(post, uri))

      ok_get && ok_post ? 0 : 1
    end
  end

  # --------------------------------------------------------------------------------------------
  # ed25519: RFC 9421 with a private key
  # --------------------------------------------------------------------------------------------

  # The headers that sign `method url` (and `body`) for keyid `token` with an Ed25519 key (an
  # OpenSSL::PKey): Content-Digest with a body, Signature-Input and Signature, over @method,
  # @authority, @path, @query (with a query) and content-digest.
  def sign_ed25519(method, url, token, key, body = '')
    uri = URI(url)
    authority = uri.port == uri.default_port ? uri.host : "#{uri.host}:#{uri.port}"
    lines = ["\"@method\": #{method}", "\"@authority\": #{authority.downcase}", "\"@path\": #{uri.path}"]
    components = ['"@method"', '"@authority"', '"@path"']
    headers = {}
    if uri.query
      lines << "\"@query\": ?#{uri.query}"
      components << '"@query"'
    end
    unless body.empty?
      headers['Content-Digest'] = "sha-256=:#{Base64.strict_encode64(Digest::SHA256.digest(body))}:"
      lines << "\"content-digest\": #{headers['Content-Digest']}"
      components << '"content-digest"'
    end
    params = "(#{components.join(' ')});created=#{Time.now.to_i};keyid=\"#{token}\";" \
             "alg=\"ed25519\";nonce=\"#{SecureRandom.hex(12)}\""
    lines << "\"@signature-params\": #{params}"
    headers['Signature-Input'] = "sig1=#{params}"
    headers['Signature'] = "sig1=:#{Base64.strict_encode64(key.sign(nil, lines.join("\n")))}:"
    headers
  end

  def ed25519
    # RFC 9421 Appendix B.2.6, reproduced: Ed25519 is deterministic.
    vector = File.join(ENV['KEYWARD_VECTORS'] || File.expand_path('../../vectors', __dir__), 'http-signature', 'rfc9421-b26')
    context = JSON.parse(File.read(File.join(vector, 'context.json')))
    key = OpenSSL::PKey.read(context['key']['private_key'])
    base = File.binread(File.join(vector, 'signature-base.txt'))
    produced = "sig-b26=:#{Base64.strict_encode64(key.sign(nil, base))}:"
    ok = produced == File.read(File.join(vector, 'signature.txt'))
    puts "RFC 9421 B.2.6 #{ok ? 'reproduced' : "differs: #{produced}"}"

    base_url = ENV.fetch('KEYWARD_URL', '').chomp('/')
    token = ENV.fetch('KEYWARD_KEY', '')
    key_file = ENV.fetch('KEYWARD_PRIVATE_KEY_FILE', '')
    if [base_url, token, key_file].any?(&:empty?)
      warn 'ed25519 needs KEYWARD_URL, KEYWARD_KEY and KEYWARD_PRIVATE_KEY_FILE'
      return 2
    end
    private_key = OpenSSL::PKey.read(File.read(key_file))
    url = "#{base_url}#{Keyward.resource}?page=1"
    uri = URI(url)
    get = Net::HTTP::Get.new(uri, { 'Accept' => 'application/json' }.merge(sign_ed25519('GET', url, token, private_key)))
    ok = Live.report("ed25519 GET  #{Keyward.resource}?page=1", *Live.request(get, uri)) && ok
    url = "#{base_url}#{Keyward.resource}"
    uri = URI(url)
    body = JSON.generate({ data: { name: 'from ruby, ed25519' } })
    post = Net::HTTP::Post.new(uri, { 'Content-Type' => 'application/json' }.merge(sign_ed25519('POST', url, token, private_key, body)))
    post.body = body
    ok = Live.report("ed25519 POST #{Keyward.resource}", *Live.request(post, uri)) && ok
    ok ? 0 : 1
  end

  def main(argv)
    case argv[0]
    when 'check-vectors'
      dir = argv[1] || ENV['KEYWARD_VECTORS'] || File.expand_path('../../vectors', __dir__)
      Vectors.run(dir)
    when 'live'
      Live.run
    when 'ed25519'
      ed25519
    else
      warn 'usage: ruby keyward_client.rb check-vectors [VECTORS_DIR] | live | ed25519'
      2
    end
  end
end

exit(Keyward.main(ARGV)) if $PROGRAM_NAME == __FILE__

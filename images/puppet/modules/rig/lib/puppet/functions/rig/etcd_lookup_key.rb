# frozen_string_literal: true

require 'base64'
require 'json'
require 'net/http'
require 'uri'

# A Hiera 5 `lookup_key` backend that reads a rig's facts from its etcd (v3 JSON gateway), so a manifest can find
# its peers while it provisions:
#
#     lookup('rig::nodes::redis1::ipaddress')   # a fact of node redis1 (short name or fqdn)
#     lookup('rig::self::ipaddress')            # a fact of this node
#     lookup('"rig::mirror::straleb.prod.example::ipaddress"')   # a fact of the node that mirrors a live node
#
# Facts live in etcd at /rig/<rig>/nodes/<fqdn>/facts/<name>, each a string; a node's stage at
# /rig/<rig>/nodes/<fqdn>/stage. Keys outside rig::nodes:: and rig::self:: are not found here.
#
# Options (hiera.yaml):
#   etcd  etcd's client URL        (default: ENV['RIG_ETCD'], e.g. http://10.213.0.3:2379)
#   rig   the rig's name           (default: ENV['RIG_NAME'])
#   wait  seconds to wait for a fact that is not published yet (default: 0, do not wait)
#
# Waiting uses an etcd watch, never a polling loop: one range read (its revision R), then a watch on the node's keys
# from R+1, which etcd streams to us as it happens. A fact published in that time ends the wait at once; the node's
# stage turning `failed...` ends it with an error; so does the timeout, naming the key, the node that should publish
# it and that node's stage. In a rig, etcd's auth is on: the node logs in as RIG_NODE with RIG_ETCD_PASSWORD. Only Ruby's standard library is used: it runs on Debian's puppet as it is.
Puppet::Functions.create_function(:'rig::etcd_lookup_key') do
  dispatch :etcd_lookup_key do
    param 'Variant[String, Numeric]', :key
    param 'Hash[String[1], Any]', :options
    param 'Puppet::LookupContext', :context
  end

  def etcd_lookup_key(key, options, context)
    key = key.to_s
    return context.cached_value(key) if context.cache_has_key(key)

    node, fact, live = parse_key(key)
    context.not_found if node.nil? && live.nil?

    etcd = setting(options, 'etcd', 'RIG_ETCD')
    rig = setting(options, 'rig', 'RIG_NAME')
    wait = wait_seconds(options)
    fqdn = live ? node_mirroring(etcd, rig, live) : fqdn_of(node, key)
    prefix = "/rig/#{rig}/nodes/#{fqdn}/"
    fact_key = "#{prefix}facts/#{fact}"

    value, revision = range(etcd, fact_key)
    if value.nil? && wait > 0
      value = wait_for(etcd, prefix, fact_key, fqdn, revision, wait, context)
    end
    if value.nil?
      context.explain { "rig: #{fact_key} is not in etcd at #{etcd}" }
      context.not_found
    end
    context.explain { "rig: #{fact_key} = #{value.inspect}" }
    # Facts are taken as stable for the rest of this compilation: every lookup of a key sees the same value.
    context.cache(key, value)
  end

  # [node, fact] for rig::nodes::<node>::<fact> (node '' stands for this node, from rig::self::<fact>), [nil, nil] for
  # keys this backend does not serve. A malformed key in its own namespace is an error, not a silent default.
  def parse_key(key)
    parts = key.split('::', -1)
    return [nil, nil] unless parts[0] == 'rig' && %w[nodes self mirror].include?(parts[1])

    if parts[1] == 'mirror'
      return [nil, parts[3], parts[2]] if parts.size == 4 && !parts[2].empty? && !parts[3].empty?
      fail_lookup("#{key} is not a rig fact key: use rig::mirror::<live node>::<fact>, quoted whole when the live " \
                  "node has dots: lookup('\"rig::mirror::straleb.prod.example::ipaddress\"')")
    end

    if parts[1] == 'self'
      return ['', parts[2]] if parts.size == 3 && !parts[2].empty?
      fail_lookup("#{key} is not a rig fact key: use rig::self::<fact>, e.g. rig::self::ipaddress")
    end
    return [parts[2], parts[3]] if parts.size == 4 && !parts[2].empty? && !parts[3].empty?
    fail_lookup("#{key} is not a rig fact key: use rig::nodes::<node>::<fact>, e.g. rig::nodes::redis1::ipaddress; " \
                "Hiera splits keys at dots, so quote a key with an fqdn in it whole: " \
                "lookup('\"rig::nodes::redis1.village.test::ipaddress\"')")
  end

  def setting(options, name, env)
    value = options[name].nil? ? ENV.fetch(env, nil) : options[name]
    return value.to_s unless value.nil? || value.to_s.empty?
    fail_lookup("no #{name} for rig::etcd_lookup_key: set #{env} (rig sets it in every node) " \
                "or options: { #{name}: ... } in hiera.yaml")
  end

  def wait_seconds(options)
    wait = options.fetch('wait', 0)
    wait = Float(wait, exception: false) if wait.is_a?(String)
    return wait if wait.is_a?(Numeric) && wait >= 0
    fail_lookup("rig::etcd_lookup_key: options.wait must be a number of seconds (0 or more), not #{options['wait'].inspect}")
  end

  # The rig node that mirrors a live node: rig records /rig/<rig>/mirrors/<live> = <fqdn> when the rig comes up.
  def node_mirroring(etcd, rig, live)
    fqdn, = range(etcd, "/rig/#{rig}/mirrors/#{live}")
    fail_lookup("no node of rig #{rig} mirrors #{live}: add one to the rig file, mirroring #{live}") if fqdn.nil?
    fqdn
  end

  # Short names get this node's domain (RIG_NODE minus its first label); '' is this node.
  def fqdn_of(node, key)
    self_fqdn = ENV.fetch('RIG_NODE', '')
    if node.empty? || !node.include?('.')
      fail_lookup("cannot look up #{key}: RIG_NODE (this node's fqdn) is not set") unless self_fqdn.include?('.')
      return node.empty? ? self_fqdn : "#{node}.#{self_fqdn.split('.', 2)[1]}"
    end
    node
  end

  # Waits for fact_key to be put, by watching the node's keys from revision + 1. Returns the value; raises on timeout,
  # when the node fails, or when etcd cannot be reached.
  def wait_for(etcd, prefix, fact_key, fqdn, revision, wait, context)
    started = now
    deadline = started + wait
    stage = stage_of(etcd, prefix)
    if stage.start_with?('failed')
      fail_lookup("#{fact_key} is not published and #{fqdn}, which should publish it, failed (its stage: #{stage})")
    end
    announce = lambda do # once etcd has the watch in place
      Puppet.notice("rig: waiting up to #{seconds(wait)} s for #{fact_key}, which #{fqdn} should publish " \
                    "(its stage: #{stage})")
      announce = nil
    end
    loop do
      event, data = watch(etcd, prefix, fact_key, revision + 1, deadline) { announce&.call }
      case event
      when :put
        Puppet.notice("rig: #{fact_key} was published after #{format('%.2f', now - started)} s")
        return data
      when :failed
        fail_lookup("stopped waiting for #{fact_key} after #{format('%.1f', now - started)} s: #{fqdn}, which " \
                    "should publish it, failed (its stage: #{data})")
      when :timeout
        fail_lookup("timed out after #{seconds(wait)} s waiting for #{fact_key}, which #{fqdn} should publish " \
                    "(its stage: #{stage_of(etcd, prefix)})")
      when :compacted
        # etcd no longer has the history from revision + 1: read again, then watch from there.
        value, revision = range(etcd, fact_key)
        return value unless value.nil?
        context.explain { "rig: watch from revision #{revision + 1} was compacted away; watching again" }
      end
    end
  end

  # One watch on every key under prefix from start_revision, read as etcd streams it (one JSON object per message,
  # newline-separated) until the fact is put, the node's stage turns failed, or deadline passes.
  # Yields once etcd has created the watch. Returns [:put, value], [:failed, stage], [:timeout, nil] or [:compacted, nil].
  def watch(etcd, prefix, fact_key, start_revision, deadline)
    remaining = deadline - now
    return [:timeout, nil] if remaining <= 0

    stage_key = "#{prefix}stage"
    request = { create_request: { key: b64(prefix), range_end: b64(prefix_end(prefix)), start_revision: start_revision.to_s } }
    catch(:watched) do
      http(etcd, [remaining, 5].min, remaining, watching: true) do |conn, uri|
        post = Net::HTTP::Post.new(uri.request_uri + 'v3/watch', request_headers(etcd))
        post.body = JSON.generate(request)
        conn.request(post) do |response|
          unless response.code == '200'
            fail_lookup("etcd at #{etcd} refused to watch #{prefix}: HTTP #{response.code} #{response.read_body}")
          end
          buffer = +''
          response.read_body do |chunk|
            buffer << chunk
            while (newline = buffer.index("\n"))
              line = buffer.slice!(0..newline).strip
              next if line.empty?
              message = JSON.parse(line)
              result = message['result']
              fail_lookup("etcd at #{etcd} ended the watch on #{prefix}: #{message['error'] || line}") unless result
              yield if result['created']
              if result['canceled']
                throw :watched, [:compacted, nil] if result['compact_revision'].to_i > 0
                fail_lookup("etcd at #{etcd} canceled the watch on #{prefix}: #{result['cancel_reason'] || line}")
              end
              (result['events'] || []).each do |ev|
                next unless (ev['type'] || 'PUT') == 'PUT' # etcd leaves out the default, PUT
                kv = ev['kv'] || {}
                name = unb64(kv['key'])
                throw :watched, [:put, unb64(kv['value'])] if name == fact_key
                value = unb64(kv['value'])
                throw :watched, [:failed, value] if name == stage_key && value.start_with?('failed')
              end
            end
            remaining = deadline - now
            throw :watched, [:timeout, nil] if remaining <= 0
            conn.read_timeout = remaining
          end
          fail_lookup("etcd at #{etcd} closed the watch on #{prefix}")
        end
      end
    rescue Net::ReadTimeout
      [:timeout, nil]
    end
  end

  # [value or nil, revision of the store at the read].
  def range(etcd, key)
    reply = post_json(etcd, 'v3/kv/range', { key: b64(key) }, "read #{key}")
    revision = reply.dig('header', 'revision').to_i
    kv = (reply['kvs'] || []).first
    [kv && unb64(kv['value']), revision]
  end

  def stage_of(etcd, prefix)
    stage, = range(etcd, "#{prefix}stage")
    stage || "none: #{prefix.chomp('/').split('/').last} has not published one; is it a node of this rig?"
  end

  def post_json(etcd, path, body, what)
    http(etcd, 5, 10) do |conn, uri|
      post = Net::HTTP::Post.new(uri.request_uri + path, request_headers(etcd))
      post.body = JSON.generate(body)
      response = conn.request(post)
      fail_lookup("cannot #{what} from etcd at #{etcd}: HTTP #{response.code} #{response.body}") unless response.code == '200'
      JSON.parse(response.body)
    end
  end

  # In a rig, etcd's auth is on: the node logs in as itself (RIG_NODE, RIG_ETCD_PASSWORD), once per compilation.
  # Without a password (an etcd without auth) no token is asked for.
  def request_headers(etcd)
    headers = { 'Content-Type' => 'application/json' }
    password = ENV['RIG_ETCD_PASSWORD'].to_s
    return headers if password.empty?

    @token ||= http(etcd, 5, 10) do |conn, uri|
      post = Net::HTTP::Post.new(uri.request_uri + 'v3/auth/authenticate', headers)
      post.body = JSON.generate(name: ENV['RIG_NODE'].to_s, password: password)
      response = conn.request(post)
      fail_lookup("etcd at #{etcd} did not let #{ENV['RIG_NODE']} in: HTTP #{response.code} #{response.body}") unless response.code == '200'
      JSON.parse(response.body)['token']
    end
    headers.merge('Authorization' => @token)
  end

  # Yields a started connection to etcd. Problems reaching it are lookup errors, except a read timeout while
  # watching, which is the wait running out: the caller's to handle.
  def http(etcd, open_timeout, read_timeout, watching: false)
    uri = URI(etcd.end_with?('/') ? etcd : "#{etcd}/")
    fail_lookup("etcd must be an http:// URL, not #{etcd.inspect}") unless uri.is_a?(URI::HTTP) && uri.host
    conn = Net::HTTP.new(uri.host, uri.port, nil) # nil: no proxy from the environment; etcd is on the rig's network
    conn.use_ssl = uri.scheme == 'https'
    conn.open_timeout = open_timeout
    conn.read_timeout = read_timeout
    conn.start { yield conn, uri }
  rescue Net::OpenTimeout, Net::ReadTimeout, SystemCallError, SocketError, IOError, JSON::ParserError => e
    raise if watching && e.is_a?(Net::ReadTimeout)
    fail_lookup("cannot reach etcd at #{etcd}: #{e.class}: #{e.message}")
  end

  # The smallest key after every key that starts with prefix (etcd's range_end for a prefix).
  def prefix_end(prefix)
    bytes = prefix.b
    bytes.setbyte(bytes.bytesize - 1, bytes.getbyte(bytes.bytesize - 1) + 1)
    bytes
  end

  def b64(text)
    Base64.strict_encode64(text)
  end

  def unb64(text)
    Base64.decode64(text.to_s).force_encoding(Encoding::UTF_8)
  end

  def seconds(value)
    value == value.to_i ? value.to_i.to_s : value.to_s
  end

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  def fail_lookup(message)
    raise Puppet::DataBinding::LookupError, "rig: #{message}"
  end
end

# Redis as the live node's hiera data describes it. A replica finds its master through the rig: the live data
# names the live master (straleb.prod.example), and rig's Hiera backend gives the address of the rig node that
# mirrors it, waiting (an etcd watch) until that node has published it.
class profile::redis (
  Enum['master', 'replica'] $role   = lookup('redis::role'),
  Integer                   $port   = lookup('redis::port', Integer, 'first', 6379),
  String                    $memory = lookup('redis::maxmemory', String, 'first', '64mb'),
  Optional[String]          $master = lookup('redis::master', Optional[String], 'first', undef),
) {
  if $role == 'replica' {
    $master_address = lookup("\"rig::mirror::${master}::ipaddress\"")
    $replicaof = "replicaof ${master_address} ${port}\n"
  } else {
    $replicaof = ''
  }

  file { '/etc/redis/redis.conf':
    content => "bind 0.0.0.0\nport ${port}\nprotected-mode no\nmaxmemory ${memory}\ndaemonize yes\ndir /var/lib/redis\nlogfile /var/log/redis/redis-server.log\n${replicaof}",
  }
  ~> exec { 'start redis':
    command     => '/usr/bin/redis-server /etc/redis/redis.conf',
    refreshonly => true,
  }
  -> exec { 'publish redis_role':
    command => "/.rig/bin/rig-fact set redis_role ${role}",
    path    => ['/usr/bin', '/bin'],
  }
}

# Redis as the live node's hiera data describes it: Debian's package, its config, and its service under systemd.
# A replica names its master by host name, as in production.
class profile::redis (
  Enum['master', 'replica'] $role   = lookup('redis::role'),
  Integer                   $port   = lookup('redis::port', Integer, 'first', 6379),
  String                    $memory = lookup('redis::maxmemory', String, 'first', '64mb'),
  Optional[String]          $master = lookup('redis::master', Optional[String], 'first', undef),
) {
  $replicaof = $role ? {
    'replica' => "replicaof ${master} ${port}\n",
    default   => '',
  }

  package { 'redis-server':
    ensure => installed,
  }
  -> file { '/etc/redis/redis.conf':
    owner   => 'redis',
    group   => 'redis',
    mode    => '0640',
    content => "bind 0.0.0.0\nport ${port}\nprotected-mode no\nmaxmemory ${memory}\nsupervised systemd\ndaemonize no\ndir /var/lib/redis\nlogfile /var/log/redis/redis-server.log\n${replicaof}",
  }
  ~> service { 'redis-server':
    ensure => running,
    enable => true,
  }
}

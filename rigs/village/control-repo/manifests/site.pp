# Every node: what its hiera data says it is.
node default {
  if lookup('redis::role', Optional[String], 'first', undef) {
    include profile::redis
  }
}

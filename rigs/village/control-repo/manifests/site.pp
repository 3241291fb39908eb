# Every node: what its (mirrored) hiera data says it is.
node default {
  if lookup('redis::role', Optional[String], 'first', undef) {
    include profile::redis
  }
}

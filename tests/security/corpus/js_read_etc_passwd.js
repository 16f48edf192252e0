// ATTACK: JavaScript reads /etc/passwd with Deno.readTextFileSync. CONTAINED: the JS process runs with --deny-read: NotCapable, an exception.
// expect: error_kind=exception; error~NotCapable
result = Deno.readTextFileSync("/etc/passwd");

# ATTACK: a result of 520,000 zeros (1,040,001 bytes of JSON, just under the default 1 MiB result limit): the host walks every value of a result after the sandbox's deadline is over, so a cheap result can make flowc itself spend seconds of CPU per node. CONTAINED (expected): checking a result within the limits costs the host little (well under a second of its own CPU).
# expect: ok; host_cpu<0.8
result = [0] * 520_000

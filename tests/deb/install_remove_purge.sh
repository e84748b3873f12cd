#!/bin/sh
# Installs the nudge .deb on this machine, checks what it put where and that it
# works, then removes it and purges it, and checks that nothing is left but what
# Debian policy keeps (the operator's own /etc/nudge/nudge.yaml). Needs root, and
# nudge not installed before. Not part of ctest: it changes the machine.
# Usage: tests/deb/install_remove_purge.sh path/to/nudge_VERSION_ARCH.deb
set -u
deb=$(readlink -f "$1")
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 2; }
if dpkg-query -W -f='${Status}' nudge 2>/dev/null | grep -q 'installed\|config-files'; then
    echo "nudge is already on this machine: purge it first"; exit 2
fi

fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { # check DESCRIPTION COMMAND...
    d=$1; shift
    if "$@" >/dev/null 2>&1; then ok "$d"; else bad "$d"; fi
}
export DEBIAN_FRONTEND=noninteractive
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Paths with "nudge" in their name where a package or a running nudged could leave
# something (apt's and dpkg's own bookkeeping aside).
nudge_paths() {
    find /etc /lib/systemd /usr/lib/systemd /usr/bin /usr/sbin /usr/share /var/lib /var/log \
        \( -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/cache \) -prune -o \
        -name '*nudge*' -print 2>/dev/null | sort
}
before=$(nudge_paths)

echo "== install"
apt-get install -y -q "$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log"; bad "apt-get install"; exit 1; }
ok "apt-get install $(basename "$deb")"
for f in /usr/sbin/nudged /usr/bin/nudgectl \
         /lib/systemd/system/nudged.service /lib/systemd/system/nudged@.service \
         /etc/nudge/nudge.yaml.example /etc/logrotate.d/nudge \
         /usr/share/man/man8/nudged.8.gz /usr/share/man/man1/nudgectl.1.gz /usr/share/man/man5/nudge.yaml.5.gz \
         /usr/share/bash-completion/completions/nudgectl /usr/share/nudge/nudge.schema.json \
         /etc/lnav/formats/nudge/nudge_audit.json \
         /usr/share/doc/nudge/README.md /usr/share/doc/nudge/operations.md /usr/share/doc/nudge/policy.md \
         /usr/share/doc/nudge/copyright /usr/share/doc/nudge/changelog.gz \
         /usr/share/doc/nudge/examples/nudge-alerts.yml /usr/share/doc/nudge/examples/nudge.json \
         /usr/share/doc/nudge/examples/demo.yaml /usr/share/doc/nudge/examples/sample-orders.jsonl; do
    check "installed $f" test -f "$f"
done
check "the example's \$schema (nudge.schema.json in /etc/nudge) leads to the schema" \
    cmp /etc/nudge/nudge.schema.json /usr/share/nudge/nudge.schema.json
if [ "$(pkg-config --modversion libsystemd 2>/dev/null || echo 999)" -lt 253 ]; then
    check "the systemd 252 drop-in for nudged.service" test -f /lib/systemd/system/nudged.service.d/systemd252.conf
    check "the systemd 252 drop-in for nudged@.service" test -f /lib/systemd/system/nudged@.service.d/systemd252.conf
fi
check "conffiles: the example, logrotate, the lnav format" \
    sh -c "dpkg-query -W -f='\${Conffiles}' nudge | grep -q /etc/nudge/nudge.yaml.example &&
           dpkg-query -W -f='\${Conffiles}' nudge | grep -q /etc/logrotate.d/nudge &&
           dpkg-query -W -f='\${Conffiles}' nudge | grep -q /etc/lnav/formats/nudge/nudge_audit.json"
check "nudged.service is enabled (multi-user.target.wants)" \
    test -L /etc/systemd/system/multi-user.target.wants/nudged.service
check "and waits for the policy: ConditionPathExists=/etc/nudge/nudge.yaml" \
    grep -qx 'ConditionPathExists=/etc/nudge/nudge.yaml' /lib/systemd/system/nudged.service
check "/etc/nudge/nudge.yaml does not exist yet (so the unit is skipped, not failed)" test ! -e /etc/nudge/nudge.yaml

out=$(nudged --check --config /etc/nudge/nudge.yaml.example 2>&1); rc=$?
if [ $rc = 0 ]; then ok "nudged --check --config /etc/nudge/nudge.yaml.example: $out"; else bad "nudged --check: $rc $out"; fi
check "nudgectl --help" nudgectl --help
warn=$(MANROFFOPT=-ww MANWIDTH=80 man nudgectl 2>&1 >"$work/nudgectl.txt")
if [ -z "$warn" ] && grep -q 'orders import' "$work/nudgectl.txt"; then
    ok "man nudgectl renders (groff -ww: no warnings); its first lines:"
    sed -n '1,8p' "$work/nudgectl.txt" | sed 's/^/       | /'
else
    bad "man nudgectl: $warn"
fi
check "man nudged and man 5 nudge.yaml are found" sh -c 'man -w nudged && man -w 5 nudge.yaml'
check "bash-completion loads the completion for nudgectl" \
    bash -c '. /usr/share/bash-completion/bash_completion; __load_completion nudgectl; complete -p nudgectl | grep -q _nudgectl'
nudgectl --config /etc/nudge/nudge.yaml.example simulate \
    --orders /usr/share/doc/nudge/examples/sample-orders.jsonl >"$work/audit.jsonl" 2>/dev/null
lines=$(wc -l <"$work/audit.jsonl")
mkdir "$work/home"
n=$(HOME="$work/home" lnav -n -c ';SELECT count(*) FROM nudge_audit' "$work/audit.jsonl" 2>&1 | sed -n 2p | tr -d ' ')
if [ "$lines" -gt 0 ] && [ "$n" = "$lines" ]; then
    ok "lnav knows the installed format: $n rows for $lines audit lines"
else
    bad "lnav: '$n' rows for $lines lines"
fi

# What a run leaves: systemd's DynamicUser= state and logs (made here as systemd
# would: private folders and links, as no systemd runs in this container), and the
# operator's policy.
mkdir -p /var/lib/private/nudge/outbox /var/log/private/nudge
ln -s private/nudge /var/lib/nudge
ln -s private/nudge /var/log/nudge
echo state >/var/lib/private/nudge/nudge.db
echo '{}' >/var/log/private/nudge/audit.jsonl
cp /etc/nudge/nudge.yaml.example /etc/nudge/nudge.yaml

echo "== remove"
apt-get remove -y -q nudge >"$work/remove.log" 2>&1 || { cat "$work/remove.log"; bad "apt-get remove"; }
check "binaries are gone" sh -c '! test -e /usr/sbin/nudged && ! test -e /usr/bin/nudgectl'
check "units are gone" test ! -e /lib/systemd/system/nudged.service
check "dpkg keeps the package's configuration (config-files)" \
    sh -c "dpkg-query -W -f='\${Status}' nudge | grep -q config-files"
check "conffiles stay after remove" test -f /etc/nudge/nudge.yaml.example
check "state and logs stay after remove" sh -c 'test -f /var/lib/nudge/nudge.db && test -f /var/log/nudge/audit.jsonl'

echo "== purge"
apt-get purge -y -q nudge >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; bad "apt-get purge"; }
check "dpkg no longer knows nudge" sh -c '! dpkg-query -W nudge 2>/dev/null | grep -q .'
after=$(nudge_paths)
left=$(printf '%s\n' "$after" | grep -vxF -e /etc/nudge -e /etc/nudge/nudge.yaml | grep -v '^$')
new=$(printf '%s\n' "$left" | grep -vxF "$before" | grep -v '^$' || true)
[ -n "$before" ] || new=$left
if [ -z "$new" ]; then
    ok "after purge only the operator's own /etc/nudge/nudge.yaml is left:"
    printf '%s\n' "$after" | sed 's/^/       | /'
else
    bad "left after purge:"; printf '%s\n' "$new" | sed 's/^/       | /'
fi
rm -f /etc/nudge/nudge.yaml
rmdir /etc/nudge 2>/dev/null

if [ $fails -gt 0 ]; then echo "$fails check(s) failed"; exit 1; fi
echo "OK: install, remove and purge"

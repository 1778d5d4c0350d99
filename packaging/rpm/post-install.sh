# Creates the unprivileged system user tessera.service runs as (see packaging/debian/postinst).
getent group tessera >/dev/null || groupadd --system tessera
getent passwd tessera >/dev/null || useradd --system --gid tessera --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin tessera
install -d -m 0750 -o root -g tessera /etc/tessera
systemctl daemon-reload >/dev/null 2>&1 || true

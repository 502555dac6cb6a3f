#!/usr/bin/env bash
# scripts/make-certs.sh — issue rgpu's TLS certificates: one CA, and certificates that carry
# their role, which every rgpu end checks (docs/security.md, "TLS"):
#   pool    serverAuth               rgpu-pool's control plane (--tls-cert)
#   server  serverAuth + clientAuth  rgpu-server: serves clients, and is itself a client of the pool
#   client  clientAuth               users, the CLI, the shim (RGPU_TLS_CERT, RGPU_POOL_TLS_CERT)
# Clients check the name or address they dialled against the certificate's subjectAltName, so a
# pool or server certificate must name every DNS name and IP it is reached by (--san).
#
# Usage:
#   make-certs.sh --dir DIR ca [--cn NAME]                  DIR/ca.pem, DIR/ca.key (kept if present)
#   make-certs.sh --dir DIR pool|server NAME --san LIST     DIR/NAME.pem, DIR/NAME.key
#   make-certs.sh --dir DIR client NAME                     DIR/NAME.pem, DIR/NAME.key
#   LIST: comma-separated DNS:name and IP:address entries, e.g. DNS:gpu1.example.org,IP:10.0.0.5
#   --days N   validity (default 365); keys are P-256, private keys 0600.
set -euo pipefail

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "make-certs: $*" >&2; exit 2; }

dir="" days=365 cn="rgpu-ca" san="" role="" name=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --dir) [[ $# -ge 2 ]] || die "--dir needs a directory"; dir="$2"; shift 2 ;;
    --days) [[ $# -ge 2 && "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] || die "--days needs a positive number"
            days="$2"; shift 2 ;;
    --cn) [[ $# -ge 2 ]] || die "--cn needs a name"; cn="$2"; shift 2 ;;
    --san) [[ $# -ge 2 ]] || die "--san needs a list"; san="$2"; shift 2 ;;
    -*) die "unknown flag: $1 (see --help)" ;;
    *)
      if [[ -z "$role" ]]; then role="$1"
      elif [[ -z "$name" ]]; then name="$1"
      else die "unexpected argument: $1"; fi
      shift ;;
  esac
done
[[ -n "$dir" ]] || die "give --dir DIR (see --help)"
[[ -n "$role" ]] || die "give a role: ca, pool, server or client (see --help)"
command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
mkdir -p "$dir"
umask 077

if [[ "$role" == ca ]]; then
  [[ -z "$name" ]] || die "ca takes no name (use --cn)"
  if [[ -s "$dir/ca.pem" && -s "$dir/ca.key" ]]; then
    echo "make-certs: keeping the CA in $dir/ca.pem"
    exit 0
  fi
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days "$days" \
    -subj "/CN=$cn" -keyout "$dir/ca.key" -out "$dir/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>"$dir/.make-certs.log" || { cat "$dir/.make-certs.log" >&2; die "could not make the CA"; }
  chmod 644 "$dir/ca.pem"
  rm -f "$dir/.make-certs.log"
  echo "make-certs: CA $dir/ca.pem (key $dir/ca.key: keep it offline)"
  exit 0
fi

case "$role" in
  pool) eku="serverAuth" ;;
  server) eku="serverAuth,clientAuth" ;;
  client) eku="clientAuth" ;;
  *) die "unknown role '$role': ca, pool, server or client" ;;
esac
[[ -n "$name" ]] || die "give the certificate a name: make-certs.sh --dir DIR $role NAME"
[[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || die "NAME may hold letters, digits, '.', '_' and '-' only"
[[ -s "$dir/ca.pem" && -s "$dir/ca.key" ]] || die "no CA in $dir: run make-certs.sh --dir $dir ca first"
if [[ "$role" != client ]]; then
  [[ -n "$san" ]] || die "a $role certificate needs --san with every name and IP it is dialled by"
  IFS=',' read -ra entries <<<"$san"
  for e in "${entries[@]}"; do
    [[ "$e" =~ ^(DNS|IP):[^,[:space:]]+$ ]] || die "--san entries are DNS:name or IP:address, not '$e'"
  done
fi

ext="$dir/.$name.ext"
{
  echo "basicConstraints=critical,CA:FALSE"
  echo "keyUsage=critical,digitalSignature,keyEncipherment"
  echo "extendedKeyUsage=$eku"
  [[ -n "$san" ]] && echo "subjectAltName=$san"
} >"$ext"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$name" \
  -keyout "$dir/$name.key" -out "$dir/.$name.csr" 2>"$dir/.make-certs.log" &&
  openssl x509 -req -in "$dir/.$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -CAserial "$dir/ca.srl" -days "$days" -extfile "$ext" \
    -out "$dir/$name.pem" 2>>"$dir/.make-certs.log" ||
  { cat "$dir/.make-certs.log" >&2; die "could not issue $name"; }
chmod 644 "$dir/$name.pem"
rm -f "$ext" "$dir/.$name.csr" "$dir/.make-certs.log"
echo "make-certs: $role certificate $dir/$name.pem ($eku${san:+; $san}), key $dir/$name.key"

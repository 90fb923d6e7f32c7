#!/usr/bin/env bash
# openssl.sh OPENSSL INPUT -- digests, symmetric encryption with a fixed key, key generation,
# a self-signed certificate, signing and verifying. Keys are random, so only deterministic
# facts about them are printed (sizes, verification results, digests of fixed data).
set -euo pipefail
o=$1 in=$2
for d in sha256 sha512 sha3-256 blake2b512 md5; do "$o" dgst -"$d" -r "$in" | cut -d' ' -f1; done
key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f iv=0f0e0d0c0b0a09080706050403020100
"$o" enc -aes-256-cbc -K "$key" -iv "$iv" -in "$in" -out enc.bin
sha256sum <enc.bin | cut -c1-64
"$o" enc -d -aes-256-cbc -K "$key" -iv "$iv" -in enc.bin | cmp - "$in" && echo "aes-256-cbc round trip ok"
"$o" enc -chacha20 -K "$key" -iv "$iv" -in "$in" | sha256sum | cut -c1-64
"$o" enc -aes-128-ctr -pbkdf2 -iter 2000 -S 0102030405060708 -pass pass:secret -in "$in" | sha256sum | cut -c1-64
"$o" genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null
"$o" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem
"$o" genpkey -algorithm ED25519 -out ed.pem
"$o" pkey -in rsa.pem -check -noout
"$o" pkey -in rsa.pem -text -noout | head -1
"$o" pkey -in ec.pem -text -noout | grep -E '^(Private-Key|ASN1 OID|NIST CURVE)'
"$o" req -x509 -new -key rsa.pem -out cert.pem -days 30 -sha256 -subj "/C=XX/O=cowgc test/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
"$o" x509 -in cert.pem -noout -subject -issuer -ext subjectAltName
"$o" verify -CAfile cert.pem cert.pem
"$o" dgst -sha256 -sign rsa.pem -out sig.rsa "$in"
"$o" dgst -sha256 -verify <("$o" pkey -in rsa.pem -pubout) -signature sig.rsa "$in"
head -c 4096 "$in" >msg
"$o" pkey -in ed.pem -pubout -out ed.pub
"$o" pkeyutl -sign -inkey ed.pem -rawin -in msg -out sig.ed
"$o" pkeyutl -verify -pubin -inkey ed.pub -rawin -in msg -sigfile sig.ed
"$o" req -new -key ec.pem -subj "/CN=client" | "$o" req -noout -verify 2>&1
"$o" rand -hex 16 | wc -c

"""The SSH algorithms the push port offers: what OpenSSH 9.x offers, without SHA-1 (DESIGN.md §10).

asyncssh's defaults also list SHA-1 key exchange (diffie-hellman-group14-sha1), SHA-1 MACs (hmac-sha1)
and the SHA-1 RSA signature (ssh-rsa), plus algorithms no OpenSSH speaks (…@ssh.com, gss-*). A client
that can only speak SHA-1 is refused at key exchange, as OpenSSH 9.8 refuses it by default. RSA *keys*
still work: they sign with rsa-sha2-256/512.
"""

from __future__ import annotations

# Newest first: the first one both sides know is used. mlkem768x25519 is post-quantum (OpenSSH 9.9).
KEX = (
    "mlkem768x25519-sha256",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
)

ENCRYPTION = (
    "chacha20-poly1305@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
)

# Encrypt-then-MAC first; the AEAD ciphers above need none.
MAC = (
    "umac-128-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "umac-64-etm@openssh.com",
    "umac-128@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "umac-64@openssh.com",
)

# The signatures a user's key may log in with (and the host key's): no ssh-rsa, which is RSA with SHA-1.
SIGNATURES = (
    "ssh-ed25519",
    "sk-ssh-ed25519@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-256",
)

"""The server's side of Cognito's ``USER_SRP_AUTH``: the local pool checks the client's password proof.

Cognito's SRP is SRP-6a over RFC 5054's 3072-bit group (g = 2) with SHA-256, and derivations of its own that the
client SDKs (amazon-cognito-identity-js's ``AuthenticationHelper``, pycognito's ``AWSSRP``) implement:

- every number is hashed as big-endian bytes with a leading zero byte when its top bit is set (``_padded``);
- ``k = H(N, g)``; ``x = H(salt, H(pool name + user id for SRP + ":" + password))``; the verifier is ``v = g^x``;
- the server answers the client's ``A`` with a salt, ``B = k*v + g^b`` and a secret block; ``u = H(A, B)``;
- both sides reach ``S = (A*v^u)^b`` (the client as ``(B - k*g^x)^(a + u*x)``), and from it a 16-byte key,
  HKDF-SHA256 with ``u`` as salt and "Caldera Derived Key" as info;
- the client proves it knows the password with HMAC-SHA256 under that key of pool name + user id + secret block +
  timestamp, base64.

Python's integers do the modular arithmetic (``pow``), hashlib, hmac and cryptography's HKDF the rest.
tests/integration/test_identity.py signs in with pycognito's client, written independently of this one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

N = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
    16,
)
"""The 3072-bit prime of RFC 5054, appendix A, which Cognito uses."""
G = 2
KEY_INFO = b"Caldera Derived Key"
SALT_BYTES = 16
SECRET_BLOCK_BYTES = 64


class ProofRefusedError(ValueError):
    """The client's values or its password proof do not hold: a wrong password, or not an SRP client at all."""


def _padded(number: int) -> bytes:
    """Big-endian bytes, with a zero byte in front when the top bit is set (the SDKs' signed hex)."""
    return number.to_bytes(number.bit_length() // 8 + 1, "big")


def _hash(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha256(b"".join(parts)).digest(), "big")


K = _hash(_padded(N), _padded(G))


def _private_exponent(pool_name: str, user_id: str, password: str, salt: int) -> int:
    identity = hashlib.sha256(f"{pool_name}{user_id}:{password}".encode()).digest()
    return _hash(_padded(salt), identity)


@dataclass(frozen=True)
class PasswordChallenge:
    """One sign-in's PASSWORD_VERIFIER challenge: what the server sends, and what it keeps to check the proof.

    Example
    -------
    >>> challenge = PasswordChallenge.start("abc", "sub-1", "secret", client_public=pow(G, 12345, N))
    >>> challenge.parameters()["SRP_B"] == format(challenge.server_public, "x")
    True
    """

    pool_name: str
    user_id: str
    salt: int
    verifier: int
    client_public: int
    server_private: int
    server_public: int
    secret_block: bytes

    @classmethod
    def start(cls, pool_name: str, user_id: str, password: str, client_public: int) -> PasswordChallenge:
        """The challenge to a client's ``A``; ``ProofRefusedError`` for an ``A`` that would fix the shared secret.

        The verifier is derived from the stored password, with a fresh salt each time: the local pool keeps
        passwords, not verifiers.
        """
        if client_public % N == 0:
            raise ProofRefusedError("SRP_A must not be a multiple of N")
        salt = secrets.randbits(SALT_BYTES * 8) | 1 << (SALT_BYTES * 8 - 1)
        verifier = pow(G, _private_exponent(pool_name, user_id, password, salt), N)
        server_private = secrets.randbelow(N - 2) + 1
        server_public = (K * verifier + pow(G, server_private, N)) % N
        return cls(
            pool_name,
            user_id,
            salt,
            verifier,
            client_public,
            server_private,
            server_public,
            secrets.token_bytes(SECRET_BLOCK_BYTES),
        )

    @property
    def secret_block_text(self) -> str:
        return base64.standard_b64encode(self.secret_block).decode()

    def parameters(self) -> dict[str, str]:
        """The challenge parameters Cognito sends (besides USERNAME and USER_ID_FOR_SRP)."""
        return {
            "SALT": format(self.salt, "x"),
            "SRP_B": format(self.server_public, "x"),
            "SECRET_BLOCK": self.secret_block_text,
        }

    def check(self, signature: str, timestamp: str) -> None:
        """Nothing if ``signature`` proves the password over ``timestamp``; otherwise ``ProofRefusedError``."""
        scrambler = _hash(_padded(self.client_public), _padded(self.server_public))
        if scrambler == 0:
            raise ProofRefusedError("u is zero")
        shared = pow(self.client_public * pow(self.verifier, scrambler, N), self.server_private, N)
        key = HKDF(algorithm=hashes.SHA256(), length=16, salt=_padded(scrambler), info=KEY_INFO).derive(_padded(shared))
        message = self.pool_name.encode() + self.user_id.encode() + self.secret_block + timestamp.encode()
        expected = base64.standard_b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise ProofRefusedError("the password proof does not match")

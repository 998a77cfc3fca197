//! WeChat's server-side signatures and safe-mode encryption (消息加解密).
//!
//! - Plaintext mode: `signature` = SHA-1 (hex) of the sorted `[token, timestamp, nonce]`
//!   concatenated.
//! - Safe mode: `msg_signature` = SHA-1 of the sorted `[token, timestamp, nonce, Encrypt]`;
//!   `Encrypt` is base64 of AES-256-CBC (key = base64(EncodingAESKey + "="), IV = the key's
//!   first 16 bytes) over `16 random bytes | u32 BE length | message | AppId`, padded PKCS#7
//!   to 32-byte blocks (not AES's 16: WeChat's own choice, so the padding is done here).

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _};
use base64::Engine as _;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use sha1::{Digest as _, Sha1};

type Encryptor = cbc::Encryptor<aes::Aes256>;
type Decryptor = cbc::Decryptor<aes::Aes256>;

/// WeChat pads to 32 bytes.
const BLOCK: usize = 32;

/// Standard base64 that accepts non-zero trailing bits: an EncodingAESKey is 43 characters
/// chosen by a person (the demo key ends in `G`), which strict decoders refuse.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the EncodingAESKey is not 43 base64 characters")]
    Key,
    #[error("the ciphertext is not base64 of whole AES blocks")]
    Ciphertext,
    #[error("the decrypted message is malformed")]
    Plaintext,
    #[error("the message is for another AppId")]
    AppId,
}

/// SHA-1 (hex) of the sorted parts concatenated: both of WeChat's signatures.
pub fn signature(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Compares in time independent of where the first difference is.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// One account's safe-mode key and AppId.
#[derive(Clone)]
pub struct Cipher {
    key: [u8; 32],
    app_id: String,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(***)")
    }
}

impl Cipher {
    pub fn new(encoding_aes_key: &str, app_id: &str) -> Result<Cipher, CryptoError> {
        if encoding_aes_key.len() != 43 {
            return Err(CryptoError::Key);
        }
        let raw = LENIENT
            .decode(format!("{encoding_aes_key}="))
            .map_err(|_| CryptoError::Key)?;
        let key: [u8; 32] = raw.try_into().map_err(|_| CryptoError::Key)?;
        Ok(Cipher {
            key,
            app_id: app_id.to_owned(),
        })
    }

    /// `Encrypt` of `message` with the given 16 random bytes (fresh ones in [`Cipher::encrypt`]).
    pub fn encrypt_with(&self, random: [u8; 16], message: &str) -> Result<String, CryptoError> {
        let len = u32::try_from(message.len()).map_err(|_| CryptoError::Plaintext)?;
        let mut plain = Vec::with_capacity(message.len() + self.app_id.len() + 20 + BLOCK);
        plain.extend_from_slice(&random);
        plain.extend_from_slice(&len.to_be_bytes());
        plain.extend_from_slice(message.as_bytes());
        plain.extend_from_slice(self.app_id.as_bytes());
        let pad = BLOCK - plain.len() % BLOCK;
        // pad is 1..=32, so it fits in a byte.
        plain.extend(std::iter::repeat_n(pad as u8, pad));
        let len = plain.len();
        let encrypted = Encryptor::new_from_slices(&self.key, &self.key[..16])
            .map_err(|_| CryptoError::Key)?
            .encrypt_padded_mut::<NoPadding>(&mut plain, len)
            .map_err(|_| CryptoError::Plaintext)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(encrypted))
    }

    pub fn encrypt(&self, message: &str) -> Result<String, CryptoError> {
        self.encrypt_with(rand::random(), message)
    }

    /// The message inside `encrypted`, checked to be for our AppId.
    pub fn decrypt(&self, encrypted: &str) -> Result<String, CryptoError> {
        let mut data = base64::engine::general_purpose::STANDARD
            .decode(encrypted.trim())
            .map_err(|_| CryptoError::Ciphertext)?;
        if data.is_empty() || data.len() % 16 != 0 {
            return Err(CryptoError::Ciphertext);
        }
        let plain = Decryptor::new_from_slices(&self.key, &self.key[..16])
            .map_err(|_| CryptoError::Key)?
            .decrypt_padded_mut::<NoPadding>(&mut data)
            .map_err(|_| CryptoError::Ciphertext)?;
        let pad = usize::from(*plain.last().ok_or(CryptoError::Plaintext)?);
        if !(1..=BLOCK).contains(&pad) || plain.len() < 20 + pad {
            return Err(CryptoError::Plaintext);
        }
        let content = &plain[16..plain.len() - pad];
        let (len, rest) = content.split_at(4);
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if len > rest.len() {
            return Err(CryptoError::Plaintext);
        }
        let (message, app_id) = rest.split_at(len);
        if app_id != self.app_id.as_bytes() {
            return Err(CryptoError::AppId);
        }
        String::from_utf8(message.to_vec()).map_err(|_| CryptoError::Plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const APP_ID: &str = "wx5f6e7d8c9b0a1234";

    #[test]
    fn signatures_sort_their_parts() {
        // sha1("123456demo-wechat-token1700000000") (sorted: "123456" < "1700000000" < "demo...")
        let s = signature(&["demo-wechat-token", "1700000000", "123456"]);
        assert_eq!(s, signature(&["123456", "1700000000", "demo-wechat-token"]));
        assert_eq!(s.len(), 40);
        assert_ne!(s, signature(&["demo-wechat-token", "1700000001", "123456"]));
        assert!(same(&s, &s.clone()));
        assert!(!same(&s, &s[1..]));
    }

    /// Computed with wechatpy 1.8.18 (`PrpCrypto` with the random string fixed to
    /// "0123456789abcdef", `_get_signature`, `hashlib.sha1` of the sorted parts).
    #[test]
    fn known_vectors_from_wechatpy() {
        assert_eq!(
            signature(&["demo-wechat-token", "1700000000", "123456"]),
            "d7496d541521bf480aaf7a800c4529454e7d2d99"
        );
        let encrypted = "Q3stYC6hdFzMh9T8HCvyDJurXWZwqfFvUvCwl1qa/K78ZGeTTeVq6PCXZPfLSmKl4hzA2GIAz5y5IeQr4u8J0j9lCsGKWPT1wXVkpl+hb45D6zhrsVy2ky500yWvMIwu";
        assert_eq!(
            signature(&["demo-wechat-token", "1700000000", "123456", encrypted]),
            "1e284de245f09b7d40a09a52181cd6dd884e5345"
        );
        let cipher = Cipher::new(KEY, APP_ID).expect("key");
        let message = "<xml><Content><![CDATA[路灯不亮]]></Content></xml>";
        assert_eq!(
            cipher
                .encrypt_with(*b"0123456789abcdef", message)
                .expect("encrypt"),
            encrypted
        );
        assert_eq!(cipher.decrypt(encrypted).expect("decrypt"), message);
    }

    #[test]
    fn round_trip_and_foreign_app_ids_are_refused() {
        let cipher = Cipher::new(KEY, APP_ID).expect("key");
        let message = "<xml><Content><![CDATA[路灯不亮]]></Content></xml>";
        let encrypted = cipher.encrypt(message).expect("encrypt");
        assert_eq!(cipher.decrypt(&encrypted).expect("decrypt"), message);
        assert_ne!(
            cipher.encrypt(message).expect("encrypt"),
            encrypted,
            "fresh random bytes"
        );
        let other = Cipher::new(KEY, "wx0000000000000000").expect("key");
        assert_eq!(other.decrypt(&encrypted), Err(CryptoError::AppId));
        assert_eq!(cipher.decrypt("not base64!"), Err(CryptoError::Ciphertext));
        assert_eq!(cipher.decrypt("AAAA"), Err(CryptoError::Ciphertext));
        assert_eq!(Cipher::new("short", APP_ID).err(), Some(CryptoError::Key));
    }
}

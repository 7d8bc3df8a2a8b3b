/*
 * audit_sign.c - Ed25519 signatures of a run's audit head (OpenSSL
 * libcrypto, EVP_PKEY): key pairs in PEM (PKCS#8 private key written with
 * mode 0600, SubjectPublicKeyInfo public key), and DIR/audit.sig:
 *   tessera-audit-signature  1
 *   head  sha256:<hex>
 *   ed25519  <128 hex digits: the signature of the 71 bytes "sha256:<hex>">
 * The message is the head's text exactly, so `openssl pkeyutl -verify -rawin`
 * can check a signature without tessera.
 */
#include "scheduler/scheduler_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

static tsr_status_t tsr_sign_write_pem(const char *path, EVP_PKEY *k, int private_key)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, private_key ? 0600 : 0644);
    if (fd < 0)
        return tsr_error_set(TSR_ERR_IO, "cannot create '%s': %s%s", path, strerror(errno),
                             errno == EEXIST ? " (a key is never overwritten: choose another name)" : "");
    if (private_key && fchmod(fd, 0600) != 0) { /* whatever the umask */
        close(fd);
        return tsr_error_set(TSR_ERR_IO, "cannot restrict '%s' to its owner: %s", path, strerror(errno));
    }
    FILE *fp = fdopen(fd, "w");
    if (!fp) {
        close(fd);
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    }
    int ok = private_key ? PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL) : PEM_write_PUBKEY(fp, k);
    if (fclose(fp) != 0)
        ok = 0;
    if (!ok)
        return tsr_error_set(TSR_ERR_IO, "cannot write the key to '%s'", path);
    return TSR_OK;
}

tsr_status_t tsr_audit_keygen(const char *key_path, const char *pub_path)
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!c || EVP_PKEY_keygen_init(c) != 1 || EVP_PKEY_keygen(c, &k) != 1) {
        EVP_PKEY_CTX_free(c);
        return tsr_error_set(TSR_ERR_INTERNAL, "Ed25519 key generation (OpenSSL) failed");
    }
    EVP_PKEY_CTX_free(c);
    tsr_status_t s = tsr_sign_write_pem(key_path, k, 1);
    if (s == TSR_OK)
        s = tsr_sign_write_pem(pub_path, k, 0);
    EVP_PKEY_free(k);
    return s;
}

static tsr_status_t tsr_sign_read_key(const char *path, int private_key, EVP_PKEY **k)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot open key '%s': %s", path, strerror(errno));
    *k = private_key ? PEM_read_PrivateKey(fp, NULL, NULL, NULL) : PEM_read_PUBKEY(fp, NULL, NULL, NULL);
    fclose(fp);
    if (!*k || EVP_PKEY_id(*k) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(*k);
        *k = NULL;
        return tsr_error_set(TSR_ERR_FORMAT, "'%s' is not an Ed25519 %s key in PEM (make one with `tessera keygen`)",
                             path, private_key ? "private" : "public");
    }
    return TSR_OK;
}

tsr_status_t tsr_audit_sign(const char *key_path, const char *head, const char *sig_path)
{
    EVP_PKEY *k = NULL;
    TSR_CALL(tsr_sign_read_key(key_path, 1, &k));
    unsigned char sig[64];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    tsr_status_t s = TSR_OK;
    if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, k) != 1 ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)head, strlen(head)) != 1 || siglen != 64)
        s = tsr_error_set(TSR_ERR_INTERNAL, "Ed25519 signing with '%s' (OpenSSL) failed", key_path);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    if (s != TSR_OK)
        return s;
    char tmp[4300];
    TSR_CALL(tsr_output_tmpname(sig_path, tmp, sizeof tmp));
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    fprintf(fp, "tessera-audit-signature\t1\nhead\t%s\ned25519\t", head);
    for (int i = 0; i < 64; i++)
        fprintf(fp, "%02x", sig[i]);
    fputc('\n', fp);
    if (fclose(fp) != 0 || rename(tmp, sig_path) != 0) {
        unlink(tmp);
        return tsr_error_set(TSR_ERR_IO, "cannot write '%s': %s", sig_path, strerror(errno));
    }
    return TSR_OK;
}

tsr_status_t tsr_audit_sig_check(const char *pub_path, const char *head, const char *sig_path)
{
    char *text = NULL;
    size_t len = 0;
    int missing = 0;
    TSR_CALL(tsr_file_read_all(sig_path, &text, &len, &missing));
    if (missing)
        return tsr_error_set(TSR_ERR_STATE, "%s is missing: the run was not signed (tessera run --sign-key KEY)",
                             sig_path);
    char signed_head[TSR_DIGEST_MAX] = "", hex[200] = "";
    const char *h = strstr(text, "\nhead\t"), *e = strstr(text, "\ned25519\t");
    if (strncmp(text, "tessera-audit-signature\t1\n", 26) != 0 || !h || !e ||
        sscanf(h + 6, "%79[^\n]", signed_head) != 1 || sscanf(e + 9, "%199[0-9a-f]", hex) != 1 || strlen(hex) != 128) {
        free(text);
        return tsr_error_set(TSR_ERR_FORMAT, "%s is not a tessera audit signature", sig_path);
    }
    free(text);
    if (strcmp(signed_head, head) != 0)
        return tsr_error_set(TSR_ERR_STATE, "%s signs the head %s, the directory's head is %s", sig_path, signed_head,
                             head);
    unsigned char sig[64];
    for (int i = 0; i < 64; i++) {
        unsigned v = 0;
        sscanf(hex + 2 * i, "%2x", &v);
        sig[i] = (unsigned char)v;
    }
    EVP_PKEY *k = NULL;
    TSR_CALL(tsr_sign_read_key(pub_path, 0, &k));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestVerify(md, sig, 64, (const unsigned char *)head, strlen(head)) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    if (!ok)
        return tsr_error_set(TSR_ERR_STATE, "%s: the signature does not verify with the public key '%s'", sig_path,
                             pub_path);
    return TSR_OK;
}

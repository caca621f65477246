/* paywire's C API on a bare-metal Cortex-M4F: pay an x402 bill under a spend policy, then check the payment
 * offline as the device's own server would.
 *
 * Input: the host file named on the semihosting command line, `key=value` lines (`bill`, `key`, `policy`,
 * `now`, `nonce`; `body` instead of `bill` for a v1 bill), the same file the Rust example reads. Output on the semihosting console:
 *
 *     header=PAYMENT-SIGNATURE
 *     value=<the header value>
 *     verified=<payer address, lowercase hex>
 *     heap_peak_bytes=<most heap in use at once>
 *     stack_peak_bytes=<deepest stack reached>
 *
 * The key sits in RAM here; a device with a secure element keeps it there and signs in sign_digest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>
#include <unistd.h>

extern void *sbrk(ptrdiff_t increment); /* newlib declares it only outside strict C11 */

#include "paywire.h"

/* ---- the hooks paywire.h asks for: memory and panics ---- */

static size_t heap_in_use, heap_peak;

/* Every block carries its size in a header word in front, so dealloc can count it back. */
void *paywire_alloc(size_t size, size_t align) {
  size_t front = align > 8 ? align : 8;
  uint8_t *raw = memalign(front, size + front);
  if (raw == NULL) return NULL;
  heap_in_use += size;
  if (heap_in_use > heap_peak) heap_peak = heap_in_use;
  ((size_t *)(raw + front))[-1] = front;
  return raw + front;
}

void paywire_dealloc(void *ptr, size_t size, size_t align) {
  (void)align;
  uint8_t *p = ptr;
  heap_in_use -= size;
  free(p - ((size_t *)p)[-1]);
}

void paywire_panic(const char *message, size_t len) {
  printf("panic=%.*s\n", (int)len, message);
  exit(1);
}

/* ---- the device: its key, clock and random source ---- */

struct device {
  uint8_t key[32];
  uint64_t now;
  uint8_t nonce[32];
};

static int32_t sign_digest(void *ctx, const uint8_t *digest, uint8_t *signature) {
  struct device *d = ctx;
  return paywire_key_sign_digest(d->key, digest, signature, NULL) == PAYWIRE_STATUS_OK ? 0 : -1;
}

static uint64_t now(void *ctx) { return ((struct device *)ctx)->now; }

/* A fixed nonce from the input, so the host can check the header byte for byte; a real device reads its
 * hardware random number generator here. */
static int32_t fill_random(void *ctx, uint8_t *buf, size_t len) {
  struct device *d = ctx;
  for (size_t i = 0; i < len; i++) buf[i] = d->nonce[i % sizeof d->nonce];
  return 0;
}

/* ---- input ---- */

static char input[8192];

static const char *field(const char *name) {
  size_t n = strlen(name);
  for (char *line = input; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncmp(line, name, n) == 0 && line[n] == '=') return line + n + 1;
  }
  return NULL;
}

static size_t field_len(const char *value) { return strcspn(value, "\r\n"); }

static int hex32(const char *text, uint8_t out[32]) {
  if (text == NULL) return -1;
  if (text[0] == '0' && text[1] == 'x') text += 2;
  for (int i = 0; i < 64; i++) {
    char c = text[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (v < 0) return -1;
    out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
  }
  return 0;
}

/* SYS_GET_CMDLINE: the input file's path, given with -semihosting-config arg=FILE. */
static const char *command_line(void) {
  static char buf[256];
  uint32_t block[2] = {(uint32_t)buf, sizeof buf};
  register uint32_t r0 __asm("r0") = 0x15;
  register uint32_t *r1 __asm("r1") = block;
  __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0 == 0 ? buf : NULL;
}

/* ---- the stack's high-water mark ---- */

#define PAINT 0xA5A5A5A5u
extern uint32_t __stack_top;

static uint32_t *paint_stack(void) {
  /* The heap was grown once to its working size (main), so everything between its top and the live frame
   * is stack that has not been used yet. */
  uint32_t *low = (uint32_t *)(((uintptr_t)sbrk(0) + 3) & ~(uintptr_t)3);
  uint32_t *here = (uint32_t *)__builtin_frame_address(0) - 64;
  for (uint32_t *p = low; p < here; p++) *p = PAINT;
  return low;
}

static size_t stack_peak(uint32_t *low) {
  uint32_t *p = low;
  while (*p == PAINT) p++;
  return (size_t)((uintptr_t)&__stack_top - (uintptr_t)p);
}

static int fail(const char *what, PaywireStatus status, const PaywireError *error) {
  printf("error=%s %s (%s): %s\n", error->code, paywire_status_name(status), what, error->message);
  return 1;
}

int main(void) {
  /* Grow newlib's heap to 24 KiB once and give it back to malloc, so it never meets the stack. */
  void *volatile reserve = malloc(24 * 1024);
  free(reserve);
  uint32_t *low = paint_stack();

  const char *path = command_line();
  FILE *f = path ? fopen(path, "r") : NULL;
  if (f == NULL) {
    printf("error=invalid_argument pass the input file with -semihosting-config arg=FILE\n");
    return 1;
  }
  size_t n = fread(input, 1, sizeof input - 1, f);
  fclose(f);
  input[n] = 0;

  static struct device device;
  /* A v2 bill comes as its PAYMENT-REQUIRED header value, a v1 bill as its JSON body. */
  const char *bill_text = field("bill"), *body = field("body"), *policy = field("policy"), *now_text = field("now");
  if ((bill_text == NULL && body == NULL) || policy == NULL || now_text == NULL || hex32(field("key"), device.key) ||
      hex32(field("nonce"), device.nonce)) {
    printf("error=invalid_argument the input needs bill (or body), key, policy, now and nonce lines\n");
    return 1;
  }
  device.now = strtoull(now_text, NULL, 10);

  PaywireError error;
  PaywireStatus status;
  PaywireSigner signer = {.ctx = &device, .sign_digest = sign_digest};
  if ((status = paywire_key_address(device.key, signer.address, &error)) != PAYWIRE_STATUS_OK)
    return fail("key", status, &error);
  PaywireEnvironment env = {.ctx = &device, .now = now, .fill_random = fill_random};

  PaywireBill *bill = NULL;
  if ((status = bill_text ? paywire_bill_parse(bill_text, field_len(bill_text), NULL, 0, &bill, &error)
                          : paywire_bill_parse(NULL, 0, (const uint8_t *)body, field_len(body), &bill, &error)) !=
      PAYWIRE_STATUS_OK)
    return fail("bill", status, &error);
  PaywirePayer *payer = NULL;
  if ((status = paywire_payer_new(policy, field_len(policy), &signer, &env, &payer, &error)) != PAYWIRE_STATUS_OK)
    return fail("policy", status, &error);
  PaywirePayment *payment = NULL;
  if ((status = paywire_pay(payer, bill, NULL, 0, &payment, &error)) != PAYWIRE_STATUS_OK)
    return fail("pay", status, &error);

  size_t value_len = 0;
  const char *value = paywire_payment_value(payment, &value_len);
  printf("header=%s\n", paywire_payment_header_name(payment));
  printf("value=%s\n", value);

  uint8_t payer_address[20];
  if ((status = paywire_check_payment(bill, value, value_len, device.now, payer_address, &error)) != PAYWIRE_STATUS_OK)
    return fail("check", status, &error);
  printf("verified=0x");
  for (int i = 0; i < 20; i++) printf("%02x", payer_address[i]);
  printf("\n");

  paywire_payment_free(payment);
  paywire_payer_free(payer);
  paywire_bill_free(bill);
  printf("heap_peak_bytes=%u\n", (unsigned)heap_peak);
  printf("stack_peak_bytes=%u\n", (unsigned)stack_peak(low));
  /* What stays allocated is the core's cache of token domain separators, kept for the next payment. */
  printf("heap_kept_bytes=%u\n", (unsigned)heap_in_use);
  return 0;
}

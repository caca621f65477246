/* Reset for the C example: copy .data, zero .bss, turn the FPU on (the Rust library is built for
 * thumbv7em-none-eabihf and may use it), open the semihosting console, run main, exit through
 * semihosting with its status. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern uint32_t __data_start, __data_end, __data_load, __bss_start__, __bss_end__, __stack_top;
extern void initialise_monitor_handles(void);
extern int main(void);

void reset_handler(void) {
  memcpy(&__data_start, &__data_load, (size_t)((char *)&__data_end - (char *)&__data_start));
  memset(&__bss_start__, 0, (size_t)((char *)&__bss_end__ - (char *)&__bss_start__));
  *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20; /* CPACR: full access to CP10 and CP11 */
  __asm volatile("dsb\n isb");
  initialise_monitor_handles();
  exit(main());
}

static void fault_handler(void) {
  /* SYS_EXIT with ADP_Stopped_RunTimeErrorUnknown: QEMU exits with a failure. */
  register uint32_t r0 __asm("r0") = 0x18;
  register uint32_t r1 __asm("r1") = 0x20023;
  __asm volatile("bkpt 0xab" : : "r"(r0), "r"(r1) : "memory");
  for (;;) {}
}

__attribute__((section(".vectors"), used)) static const void *const vectors[16] = {
    &__stack_top, reset_handler, fault_handler, fault_handler, fault_handler, fault_handler, fault_handler,
    0, 0, 0, 0, fault_handler, fault_handler, 0, fault_handler, fault_handler,
};

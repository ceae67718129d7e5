; boot/entry.asm: the first boot stage, for the bootstrap processor.
;
; Reached in 32-bit protected mode with paging off, from QEMU `-kernel` (multiboot1 with the
; a.out-kludge address fields) or from GRUB (multiboot2). It checks that the CPU has long mode,
; builds prekernel page tables that map the low 4 GiB at their identity address and the low
; 1 GiB again at the kernel's higher-half base, turns on PAE, EFER.LME (and EFER.NXE where the
; CPU has it) and paging, and jumps to the 64-bit higher-half entry, which calls Rust's
; `kernel_main(loader_magic, loader_info_phys)` on the boot stack.
;
; Sections: `.multiboot_header`, `.boot.text`, `.boot.data` and `.boot.tables` (prekernel
; tables, early stack) are linked at their physical address (VMA = LMA); `.text` is the
; higher half. See linker.ld.

bits 32

; The architectural names and the image's addresses (KERNEL_VIRT_OFFSET, CR0_PE, CR0_PG,
; CR4_PAE, IA32_EFER, EFER_LME, EFER_NXE, PTE_P, PTE_RW, PTE_PS), generated from
; kernel/core/src/hw.rs by kernel/build.rs.
%include "hw.inc"

; Multiboot 1 (Multiboot Specification 0.6.96, section 3.1.1).
MB1_HEADER_MAGIC        equ 0x1BADB002
MB1_FLAG_PAGE_ALIGN     equ 1 << 0      ; modules page aligned
MB1_FLAG_MEMORY_INFO    equ 1 << 1      ; mem_* and mmap_* fields wanted
MB1_FLAG_AOUT_KLUDGE    equ 1 << 16     ; load address fields present (needed for an ELF64)
MB1_FLAGS               equ MB1_FLAG_PAGE_ALIGN | MB1_FLAG_MEMORY_INFO | MB1_FLAG_AOUT_KLUDGE

; Multiboot 2 (Multiboot2 Specification 2.0, section 3.1).
MB2_HEADER_MAGIC        equ 0xE85250D6
MB2_ARCH_I386           equ 0
MB2_TAG_END             equ 0
MB2_TAG_INFO_REQUEST    equ 1
MB2_INFO_CMDLINE        equ 1
MB2_INFO_MMAP           equ 6
MB2_INFO_ACPI_OLD       equ 14
MB2_INFO_ACPI_NEW       equ 15
MB2_TAG_FRAMEBUFFER     equ 5       ; framebuffer request (section 3.1.10)
MB2_TAG_OPTIONAL        equ 1       ; flags bit 0: the loader may ignore the tag

; Intel SDM vol. 3A: control registers, EFER, paging-structure entry bits.
PAGE_2M                 equ 0x200000

; CPUID (Intel SDM vol. 2A, CPUID).
EFLAGS_ID               equ 1 << 21
CPUID_EXT_MAX           equ 0x80000000
CPUID_EXT_FEATURES      equ 0x80000001
CPUID_EXT_EDX_NX        equ 1 << 20
CPUID_EXT_EDX_LM        equ 1 << 29
CPUID_1_ECX_HYPERVISOR  equ 1 << 31

COM1                    equ 0x3F8
UART_LSR                equ 5
UART_LSR_THRE           equ 1 << 5
QEMU_DEBUG_EXIT_PORT    equ 0xF4
EXIT_FAIL               equ 0x11

extern __kernel_load_end_phys
extern __kernel_bss_end_phys
extern __boot_stack_top
extern kernel_main

; ---------------------------------------------------------------------------------------------
section .multiboot_header progbits alloc noexec nowrite align=8

align 4
mb1_header:
    dd MB1_HEADER_MAGIC
    dd MB1_FLAGS
    dd -(MB1_HEADER_MAGIC + MB1_FLAGS)
    dd mb1_header                   ; header_addr
    dd mb1_header                   ; load_addr: the image starts with this section
    dd __kernel_load_end_phys       ; load_end_addr: end of .data
    dd __kernel_bss_end_phys        ; bss_end_addr: end of everything the loader must zero
    dd _start                       ; entry_addr

align 8
mb2_header:
    dd MB2_HEADER_MAGIC
    dd MB2_ARCH_I386
    dd mb2_header_end - mb2_header
    dd -(MB2_HEADER_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
align 8
    dw MB2_TAG_INFO_REQUEST, 0
    dd 8 + 4 * 4
    dd MB2_INFO_CMDLINE, MB2_INFO_MMAP, MB2_INFO_ACPI_OLD, MB2_INFO_ACPI_NEW
align 8
    ; A linear framebuffer where there is no VGA text mode (UEFI): any size and depth.
    ; Optional; under BIOS the image's grub.cfg asks GRUB for text mode (gfxpayload=text).
    dw MB2_TAG_FRAMEBUFFER, MB2_TAG_OPTIONAL
    dd 20
    dd 0, 0, 0
align 8
    dw MB2_TAG_END, 0
    dd 8
mb2_header_end:

; ---------------------------------------------------------------------------------------------
section .boot.text progbits alloc exec nowrite align=16

global _start
_start:
    cli
    cld
    mov [boot_loader_magic], eax
    mov [boot_loader_info], ebx
    mov esp, boot_stack32_top

    ; The loader zeroes the bss, but do not rely on it for the tables.
    mov edi, boot_tables
    mov ecx, boot_tables_end - boot_tables
    shr ecx, 2
    xor eax, eax
    rep stosd

    ; CPUID present? (EFLAGS.ID can be toggled)
    pushfd
    pop eax
    mov ecx, eax
    xor eax, EFLAGS_ID
    push eax
    popfd
    pushfd
    pop eax
    push ecx
    popfd
    xor eax, ecx
    jz .no_long_mode

    mov eax, CPUID_EXT_MAX
    cpuid
    cmp eax, CPUID_EXT_FEATURES
    jb .no_long_mode
    mov eax, CPUID_EXT_FEATURES
    cpuid
    test edx, CPUID_EXT_EDX_LM
    jz .no_long_mode
    and edx, CPUID_EXT_EDX_NX
    mov [boot_has_nx], edx

    ; PD0..PD3: 2048 2-MiB pages, identity, 0 .. 4 GiB.
    mov edi, boot_pd
    mov eax, PTE_P | PTE_RW | PTE_PS
    xor edx, edx
    mov ecx, 4 * 512
.fill_pd:
    mov [edi], eax
    mov [edi + 4], edx
    add eax, PAGE_2M
    adc edx, 0
    add edi, 8
    loop .fill_pd

    ; PDPT_low[0..3] -> PD0..PD3 (identity 0 .. 4 GiB)
    mov edi, boot_pdpt_low
    mov eax, boot_pd + (PTE_P | PTE_RW)
    mov ecx, 4
.fill_pdpt:
    mov [edi], eax
    add eax, 4096
    add edi, 8
    loop .fill_pdpt

    ; 0xffffffff80000000 = PML4[511], PDPT[510] -> PD0 (physical 0 .. 1 GiB)
    mov dword [boot_pdpt_high + 510 * 8], boot_pd + (PTE_P | PTE_RW)
    mov dword [boot_pml4], boot_pdpt_low + (PTE_P | PTE_RW)
    mov dword [boot_pml4 + 511 * 8], boot_pdpt_high + (PTE_P | PTE_RW)

    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax
    mov eax, boot_pml4
    mov cr3, eax

    mov ecx, IA32_EFER
    rdmsr
    or eax, EFER_LME
    cmp dword [boot_has_nx], 0
    je .no_nx
    or eax, EFER_NXE
.no_nx:
    wrmsr

    mov eax, cr0
    or eax, CR0_PG | CR0_PE
    mov cr0, eax

    lgdt [boot_gdt_ptr]
    jmp BOOT_GDT_CODE64:long_mode_low

.no_long_mode:
    mov esi, msg_no_long_mode
    call serial_puts32
    ; Under a hypervisor, leave through QEMU's exit device with the failure code.
    xor eax, eax
    pushfd
    pop ecx
    test ecx, EFLAGS_ID
    jz .halt
    mov eax, 1
    cpuid
    test ecx, CPUID_1_ECX_HYPERVISOR
    jz .halt
    mov al, EXIT_FAIL
    out QEMU_DEBUG_EXIT_PORT, al
.halt:
    cli
    hlt
    jmp .halt

; Print the NUL-terminated string at esi on COM1 (polled; bounded wait per byte, so a
; machine without a UART does not hang here).
serial_puts32:
    lodsb
    test al, al
    jz .done
    mov bl, al
    mov ecx, 100000
.wait:
    mov dx, COM1 + UART_LSR
    in al, dx
    test al, UART_LSR_THRE
    jnz .send
    loop .wait
.send:
    mov al, bl
    mov dx, COM1
    out dx, al
    jmp serial_puts32
.done:
    ret

bits 64
long_mode_low:
    xor eax, eax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov rax, higher_half_entry
    jmp rax

; ---------------------------------------------------------------------------------------------
section .boot.data progbits alloc noexec write align=16

BOOT_GDT_CODE64 equ 0x08
align 16
boot_gdt:
    dq 0                            ; null
    dq 0x00AF9A000000FFFF           ; 0x08: 64-bit code, DPL 0 (L=1, D=0)
    dq 0x00CF92000000FFFF           ; 0x10: data, DPL 0
boot_gdt_end:
boot_gdt_ptr:
    dw boot_gdt_end - boot_gdt - 1
    dd boot_gdt

msg_no_long_mode:
    db "boot: error: this CPU has no long mode (CPUID 0x80000001 EDX bit 29 is clear);", 13, 10
    db "boot: the kernel needs an x86-64 CPU", 13, 10, 0

; ---------------------------------------------------------------------------------------------
; The prekernel tables and the 32-bit stack are zero-filled PROGBITS, not NOBITS: the
; multiboot1 a.out kludge loads the image as one linear run of file bytes, so nothing in
; the loaded part may be NOBITS.
section .boot.tables progbits alloc noexec write align=4096

boot_tables:
boot_pml4:       times 4096 db 0
boot_pdpt_low:   times 4096 db 0
boot_pdpt_high:  times 4096 db 0
boot_pd:         times 4 * 4096 db 0
boot_tables_end:
boot_stack32:    times 1024 db 0
boot_stack32_top:
boot_has_nx:     dd 0
boot_loader_magic: dd 0
boot_loader_info:  dd 0

; ---------------------------------------------------------------------------------------------
section .text
bits 64

; Higher-half entry: switch to the boot stack (higher half, guard page below it) and call
; kernel_main(loader_magic, loader_info_phys). The zero return address and rbp end backtraces.
higher_half_entry:
    mov rsp, __boot_stack_top
    xor ebp, ebp
    mov rax, boot_loader_magic
    mov edi, [rax]
    mov rax, boot_loader_info
    mov esi, [rax]
    push 0
    jmp kernel_main

; trampoline/ap_trampoline.asm: where every application processor starts.
;
; Assembled as a flat binary (nasm -f bin) by kernel/build.rs and copied by the BSP to one
; page below 1 MiB; the SIPI vector is that page's number, so an AP starts here in real mode
; at CS:IP = page:0000. The header (offsets generated from trampoline/src/lib.rs) carries
; everything the AP needs; the AP reads it and writes nothing but three fix-up words (the
; same values on every AP) in this page, and, if the header does not list its APIC id, the
; two gates of the IDT it parks with.
;
; real mode -> protected mode (flat GDT below) -> CR4, PAT, EFER, trampoline CR3, CR0.PG ->
; long mode at this page's identity address -> own APIC id (CPUID) looked up in the header ->
; jump to the kernel's higher-half AP entry, which loads the kernel's CR3 and GS base and
; enters Rust on the AP's own stack.

%include "trampoline_header.inc"
%include "hw.inc"           ; CR0_PE, IA32_EFER, IA32_PAT (kernel/core/src/hw.rs)

CPUID_TOPOLOGY_LEAF equ 0x0B
VEC_NMI             equ 2
VEC_MACHINE_CHECK   equ 18
GATE_INTERRUPT_PRESENT equ 0x8E     ; type 0xE (64-bit interrupt gate), P = 1 (SDM vol. 3A 6.14.1)
PARK_STACK          equ 64          ; bytes left free at the page's top for .parked's frames

SEL_CODE64          equ 0x08
SEL_DATA            equ 0x10
SEL_CODE32          equ 0x18

bits 16
org 0

start:
    cli
    jmp near real_mode_entry
    times TRAMPOLINE_HEADER_OFFSET - ($ - $$) db 0
header:
    dd TRAMPOLINE_MAGIC             ; TH_MAGIC
    dd TH_SIZE                      ; TH_HEADER_SIZE
    times TH_SIZE - 8 db 0
header_end:
%if TH_MAGIC != 0 || TH_HEADER_SIZE != 4
%error "the trampoline writes magic and header size as its first two words"
%endif

real_mode_entry:
    cld
    mov ax, cs
    mov ds, ax
    xor esi, esi
    mov si, ax
    shl esi, 4                      ; esi = physical base of this page (kept to the end)
    lea eax, [esi + gdt]
    mov [gdt_ptr + 2], eax
    lea eax, [esi + protected_mode_entry]
    mov [pm_target], eax
    lea eax, [esi + long_mode_entry]
    mov [lm_target], eax
    o32 lgdt [gdt_ptr]
    mov eax, cr0
    or eax, CR0_PE
    mov cr0, eax
    jmp dword far [pm_target]

bits 32
protected_mode_entry:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, [esi + header + TH_CR4]
    mov cr4, eax
    mov ecx, IA32_PAT
    mov eax, [esi + header + TH_PAT]
    mov edx, [esi + header + TH_PAT + 4]
    wrmsr
    mov ecx, IA32_EFER
    rdmsr
    or eax, [esi + header + TH_EFER]
    wrmsr
    mov eax, [esi + header + TH_TRAMPOLINE_PML4]
    mov cr3, eax
    mov eax, [esi + header + TH_CR0]
    mov cr0, eax                    ; paging on: long mode (compatibility)
    jmp far [esi + lm_target]

bits 64
long_mode_entry:
    mov esi, esi                    ; zero-extend the page base
    xor eax, eax
    mov ds, ax
    mov es, ax
    mov ss, ax
    ; This CPU's APIC id: the x2APIC id of CPUID leaf 0x0B where the leaf is valid, else the
    ; initial APIC id, CPUID.1:EBX[31:24] (both equal the APIC ID register for ids < 255).
    xor eax, eax
    cpuid
    cmp eax, CPUID_TOPOLOGY_LEAF
    jb .legacy_id
    mov eax, CPUID_TOPOLOGY_LEAF
    xor ecx, ecx
    cpuid
    test ebx, 0xFFFF
    jz .legacy_id
    mov r8d, edx
    jmp .lookup
.legacy_id:
    mov eax, 1
    cpuid
    shr ebx, 24
    mov r8d, ebx
.lookup:
    mov ecx, [rsi + header + TH_CPU_COUNT]
    lea rdi, [rsi + header + TH_APIC_IDS]
    xor eax, eax
.next:
    cmp eax, ecx
    jae .unknown
    cmp [rdi + rax * 4], r8d
    je .found
    inc eax
    jmp .next
.unknown:
    ; Not a CPU the BSP is waking: park here for good, but able to take an NMI or a machine
    ; check (without an IDT either would triple-fault, which on real chipsets can reset the
    ; whole platform). Their gates lead to .parked, which never returns (so NMIs stay blocked)
    ; and resets its stack to the top of this page each time; the gates and the IDT pointer
    ; are the only memory written, the same values on every such AP.
    lea rax, [rsi + .parked]        ; below 1 MiB: offset bits 63:32 are zero
    mov edx, eax
    and edx, 0xFFFF                 ; offset 15:0
    or edx, SEL_CODE64 << 16        ; selector
    mov rcx, rax
    shr rcx, 16
    shl rcx, 48                     ; offset 31:16
    or rdx, rcx
    mov rcx, GATE_INTERRUPT_PRESENT
    shl rcx, 40                     ; 64-bit interrupt gate, present, DPL 0
    or rdx, rcx
    mov [rsi + park_idt + VEC_NMI * 16], rdx
    mov [rsi + park_idt + VEC_MACHINE_CHECK * 16], rdx
    lea rax, [rsi + park_idt]
    mov [rsi + park_idtr + 2], rax
    lidt [rsi + park_idtr]
.parked:
    lea rsp, [rsi + TRAMPOLINE_SIZE]
    cli
    hlt
    jmp .parked
.found:
    mov rdi, rax                                ; logical id
    mov rdx, [rsi + header + TH_WINDOW_SIZE]
    imul rdx, rax
    add rdx, [rsi + header + TH_PERCPU_BASE]    ; GS base = this CPU's window
    mov rcx, [rsi + header + TH_STACK_TOP_OFFSET]
    add rcx, rdx                                ; stack top inside the window
    mov r9, [rsi + header + TH_KERNEL_CR3]
    mov rax, [rsi + header + TH_ENTRY64]
    mov esi, r8d                                ; APIC id
    jmp rax

align 16
gdt:
    dq 0
    dq 0x00AF9A000000FFFF           ; 0x08: 64-bit code
    dq 0x00CF92000000FFFF           ; 0x10: flat data
    dq 0x00CF9A000000FFFF           ; 0x18: flat 32-bit code
gdt_end:
gdt_ptr:
    dw gdt_end - gdt - 1
    dd 0                            ; fixed up: linear address of gdt
pm_target:
    dd 0                            ; fixed up: linear address of protected_mode_entry
    dw SEL_CODE32
lm_target:
    dd 0                            ; fixed up: linear address of long_mode_entry
    dw SEL_CODE64

; The IDT of an AP that parks here (gates written at run time, up to the machine check).
align 16
park_idt:
    times (VEC_MACHINE_CHECK + 1) * 16 db 0
park_idtr:
    dw (VEC_MACHINE_CHECK + 1) * 16 - 1
    dq 0                            ; written at run time: linear address of park_idt

%if ($ - $$) > TRAMPOLINE_SIZE - PARK_STACK
%error "the trampoline (and the parked APs' stack) does not fit in its page"
%endif

//! Little-endian fields of firmware and loader structures read into byte buffers.

/// The `u32` at `bytes[offset..offset + 4]`.
pub(crate) fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    let mut field = [0; 4];
    field.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(field)
}

/// The `u64` at `bytes[offset..offset + 8]`.
pub(crate) fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    let mut field = [0; 8];
    field.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(field)
}

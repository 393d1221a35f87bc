//! One stored key: its name, value, expiry and access stamp, packed in one allocation.
//!
//! A slot table holds [`Entry`]s, each a single pointer to a blob laid out as
//!
//! ```text
//! [header: u32][key length: u8 | u32][expiry: u64, if any][value length: u8, if inline]
//! [key bytes][value: i64 | inline bytes | pointer + length of the bytes | pointer to a boxed Value]
//! ```
//!
//! The header packs the 24-bit access stamp (see [`super::access`]) with the value's kind and
//! flags. Integers and strings up to [`INLINE_MAX`] bytes live inside the blob, so a small
//! key costs one allocation of `6 + key + value` bytes plus the table's pointer; a longer
//! string is one more allocation holding just its bytes, and the aggregate types sit behind
//! one more pointer (`Box<Value>`), where they can grow in place. Multi-byte fields are read
//! and written unaligned.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;

use crate::types::{EncodingLimits, HashValue, ListValue, SetValue, ZSetValue};

/// Longest string stored inside the entry itself; longer ones get their own allocation.
pub const INLINE_MAX: usize = 255;

/// A stored value, as handed to and taken from the keyspace. Strings that look like 64-bit
/// integers are kept as integers.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string holding the canonical decimal form of an integer.
    Int(i64),
    /// Any other string.
    Str(Vec<u8>),
    /// A list.
    List(Box<ListValue>),
    /// A hash.
    Hash(Box<HashValue>),
    /// A set.
    Set(Box<SetValue>),
    /// A sorted set.
    ZSet(Box<ZSetValue>),
}

/// A borrowed view of a stored value.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    /// A string holding the canonical decimal form of an integer.
    Int(i64),
    /// Any other string.
    Str(&'a [u8]),
    /// A list.
    List(&'a ListValue),
    /// A hash.
    Hash(&'a HashValue),
    /// A set.
    Set(&'a SetValue),
    /// A sorted set.
    ZSet(&'a ZSetValue),
}

impl Value {
    /// Builds a string value, storing canonical integers as integers.
    pub fn from_bytes(bytes: &[u8]) -> Value {
        if bytes.len() <= 20 {
            if let Some(n) = crate::resp::decode::parse_i64(bytes) {
                return Value::Int(n);
            }
        }
        Value::Str(bytes.to_vec())
    }

    /// A borrowed view.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Int(n) => ValueRef::Int(*n),
            Value::Str(s) => ValueRef::Str(s),
            Value::List(l) => ValueRef::List(l),
            Value::Hash(h) => ValueRef::Hash(h),
            Value::Set(s) => ValueRef::Set(s),
            Value::ZSet(z) => ValueRef::ZSet(z),
        }
    }

    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        self.as_ref().type_name()
    }

    /// Heap bytes this value uses (an estimate for MEMORY USAGE).
    pub fn heap_size(&self) -> usize {
        self.as_ref().heap_size()
    }
}

impl<'a> ValueRef<'a> {
    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            ValueRef::Int(_) | ValueRef::Str(_) => "string",
            ValueRef::List(_) => "list",
            ValueRef::Hash(_) => "hash",
            ValueRef::Set(_) => "set",
            ValueRef::ZSet(_) => "zset",
        }
    }

    /// Whether the value is a string.
    pub fn is_string(&self) -> bool {
        matches!(self, ValueRef::Int(_) | ValueRef::Str(_))
    }

    /// The encoding `OBJECT ENCODING` reports (Redis's names).
    pub fn encoding(&self, limits: &EncodingLimits) -> &'static str {
        match self {
            ValueRef::Int(_) => "int",
            ValueRef::Str(s) if s.len() <= 44 => "embstr",
            ValueRef::Str(_) => "raw",
            ValueRef::List(l) => l.encoding(limits.list_size),
            ValueRef::Hash(h) => h.encoding(),
            ValueRef::Set(s) => s.encoding(),
            ValueRef::ZSet(z) => z.encoding(),
        }
    }

    /// The string bytes, borrowed when stored as bytes or formatted into `buf` when an
    /// integer. `None` for non-string types.
    pub fn as_bytes<'b>(&self, buf: &'b mut itoa::Buffer) -> Option<&'b [u8]>
    where
        'a: 'b,
    {
        match *self {
            ValueRef::Int(n) => Some(buf.format(n).as_bytes()),
            ValueRef::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Heap bytes this value uses outside its entry (an estimate for MEMORY USAGE).
    pub fn heap_size(&self) -> usize {
        match self {
            ValueRef::Int(_) => 0,
            ValueRef::Str(s) if s.len() <= INLINE_MAX => 0,
            ValueRef::Str(s) => s.len(),
            ValueRef::List(l) => l.heap_size(),
            ValueRef::Hash(h) => h.heap_size(),
            ValueRef::Set(s) => s.heap_size(),
            ValueRef::ZSet(z) => z.heap_size(),
        }
    }

    /// An owned copy.
    pub fn to_owned_value(&self) -> Value {
        match *self {
            ValueRef::Int(n) => Value::Int(n),
            ValueRef::Str(s) => Value::Str(s.to_vec()),
            ValueRef::List(l) => Value::List(Box::new(l.clone())),
            ValueRef::Hash(h) => Value::Hash(Box::new(h.clone())),
            ValueRef::Set(s) => Value::Set(Box::new(s.clone())),
            ValueRef::ZSet(z) => Value::ZSet(Box::new(z.clone())),
        }
    }
}

const STAMP_MASK: u32 = 0x00FF_FFFF;
const KIND_SHIFT: u32 = 24;
const KIND_MASK: u32 = 0b11 << KIND_SHIFT;
const KIND_INT: u32 = 0;
const KIND_INLINE: u32 = 1;
const KIND_BOXED: u32 = 2;
const KIND_LONG: u32 = 3;
const HAS_EXPIRY: u32 = 1 << 26;
const LONG_KEY: u32 = 1 << 27;

/// A key with its value and metadata, as stored in a slot table: one owning pointer to a
/// packed blob (see the module docs).
#[repr(transparent)]
pub struct Entry {
    /// The blob's address, with the key's hash tag in the top 16 bits (see [`Entry::tag`]).
    blob: NonNull<u8>,
}

/// Address bits of a pointer: user-space addresses fit in 48 bits on the platforms this runs
/// on (checked when an entry is made), so the 16 above carry other data (an entry's hash tag
/// here, an index's size in [`super::index`]'s hint).
pub(super) const ADDR_BITS: u32 = 48;

/// The address part of a tagged pointer.
pub(super) const ADDR_MASK: usize = (1 << ADDR_BITS) - 1;

// SAFETY: an entry exclusively owns its blob and the boxed value it may point to, both of
// which are plain data (`Value` is Send + Sync).
unsafe impl Send for Entry {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for Entry {}

/// Where the parts of a blob lie, computed from its header.
#[derive(Clone, Copy)]
struct Shape {
    header: u32,
    key_len: usize,
    expiry_at: usize,
    value_len_at: usize,
    key_at: usize,
    value_at: usize,
    size: usize,
}

impl Shape {
    fn new(header: u32, key_len: usize, inline_len: usize) -> Shape {
        let mut at = 4 + if header & LONG_KEY != 0 { 4 } else { 1 };
        let expiry_at = at;
        if header & HAS_EXPIRY != 0 {
            at += 8;
        }
        let value_len_at = at;
        let kind = (header & KIND_MASK) >> KIND_SHIFT;
        if kind == KIND_INLINE {
            at += 1;
        }
        let key_at = at;
        let value_at = key_at + key_len;
        let value_size = match kind {
            KIND_INLINE => inline_len,
            KIND_LONG => 16,
            _ => 8,
        };
        Shape {
            header,
            key_len,
            expiry_at,
            value_len_at,
            key_at,
            value_at,
            size: value_at + value_size,
        }
    }

    fn layout(&self) -> Layout {
        // Blobs are at most a few hundred bytes plus the key (512 MB at most).
        Layout::from_size_align(self.size, 4).expect("entry layout")
    }
}

/// What goes into a new blob's value field.
enum Stored {
    Int(i64),
    Inline(Vec<u8>),
    Long(Box<[u8]>),
    Boxed(Box<Value>),
}

impl Stored {
    fn from_value(value: Value) -> Stored {
        match value {
            Value::Int(n) => Stored::Int(n),
            Value::Str(s) if s.len() <= INLINE_MAX => Stored::Inline(s),
            Value::Str(s) => Stored::Long(s.into_boxed_slice()),
            other => Stored::Boxed(Box::new(other)),
        }
    }

    fn kind(&self) -> u32 {
        match self {
            Stored::Int(_) => KIND_INT,
            Stored::Inline(_) => KIND_INLINE,
            Stored::Long(_) => KIND_LONG,
            Stored::Boxed(_) => KIND_BOXED,
        }
    }

    fn inline_len(&self) -> usize {
        match self {
            Stored::Inline(s) => s.len(),
            _ => 0,
        }
    }
}

impl Entry {
    /// Packs a new entry.
    ///
    /// `tag` is [`Entry::tag_of`] the key's table hash: the slot index compares it before
    /// reading the entry.
    pub(crate) fn new(key: &[u8], value: Value, expire_at: u64, stamp: u32, tag: u16) -> Entry {
        let stored = Stored::from_value(value);
        let mut header = (stamp & STAMP_MASK) | (stored.kind() << KIND_SHIFT);
        if expire_at != 0 {
            header |= HAS_EXPIRY;
        }
        if key.len() > u8::MAX as usize {
            header |= LONG_KEY;
        }
        let shape = Shape::new(header, key.len(), stored.inline_len());
        let layout = shape.layout();
        // SAFETY: the layout has a non-zero size (at least the 5-byte header and 8 value
        // bytes or an inline length byte); every field written below lies inside it, as
        // `Shape` computed.
        unsafe {
            let p = alloc(layout);
            if p.is_null() {
                handle_alloc_error(layout);
            }
            p.cast::<u32>().write(header);
            if header & LONG_KEY != 0 {
                p.add(4).cast::<u32>().write_unaligned(key.len() as u32);
            } else {
                p.add(4).write(key.len() as u8);
            }
            if expire_at != 0 {
                p.add(shape.expiry_at)
                    .cast::<u64>()
                    .write_unaligned(expire_at);
            }
            std::ptr::copy_nonoverlapping(key.as_ptr(), p.add(shape.key_at), key.len());
            let v = p.add(shape.value_at);
            match stored {
                Stored::Int(n) => v.cast::<i64>().write_unaligned(n),
                Stored::Inline(s) => {
                    p.add(shape.value_len_at).write(s.len() as u8);
                    std::ptr::copy_nonoverlapping(s.as_ptr(), v, s.len());
                }
                Stored::Long(b) => {
                    let len = b.len();
                    v.cast::<*mut u8>()
                        .write_unaligned(Box::into_raw(b).cast::<u8>());
                    v.add(8).cast::<usize>().write_unaligned(len);
                }
                Stored::Boxed(b) => v.cast::<*mut Value>().write_unaligned(Box::into_raw(b)),
            }
            assert!(
                p.addr() & !ADDR_MASK == 0,
                "allocation above the 48-bit address space"
            );
            Entry {
                blob: NonNull::new_unchecked(p.map_addr(|a| a | (tag as usize) << ADDR_BITS)),
            }
        }
    }

    /// The 16 bits of a table hash that an entry carries in its pointer.
    #[inline]
    pub(crate) fn tag_of(hash: u64) -> u16 {
        (hash >> ADDR_BITS) as u16
    }

    /// The tag of the entry's key (see [`Entry::tag_of`]).
    #[inline]
    pub(crate) fn tag(&self) -> u16 {
        Self::word_tag(self.blob.as_ptr())
    }

    /// The tag in a tagged pointer as [`Entry::into_raw`] returns it.
    #[inline]
    pub(crate) fn word_tag(word: *mut u8) -> u16 {
        (word.addr() >> ADDR_BITS) as u16
    }

    /// The blob's address in a tagged pointer.
    #[inline]
    pub(crate) fn untagged(word: *mut u8) -> *const u8 {
        word.map_addr(|a| a & ADDR_MASK).cast_const()
    }

    /// The tagged pointer, giving up ownership (see [`Entry::from_raw`]).
    #[inline]
    pub(crate) fn into_raw(self) -> *mut u8 {
        std::mem::ManuallyDrop::new(self).blob.as_ptr()
    }

    /// Takes ownership back of a pointer from [`Entry::into_raw`].
    ///
    /// # Safety
    /// `word` came from `into_raw` and is not owned by anything else.
    #[inline]
    pub(crate) unsafe fn from_raw(word: *mut u8) -> Entry {
        Entry {
            // SAFETY: `into_raw` returns non-null pointers (the caller's contract).
            blob: unsafe { NonNull::new_unchecked(word) },
        }
    }

    /// The blob's address.
    #[inline]
    fn ptr(&self) -> *mut u8 {
        self.blob.as_ptr().map_addr(|a| a & ADDR_MASK)
    }

    #[inline]
    fn header(&self) -> u32 {
        // SAFETY: every blob starts with its 4-byte-aligned header.
        unsafe { self.ptr().cast::<u32>().read() }
    }

    #[inline]
    fn shape(&self) -> Shape {
        let header = self.header();
        let p = self.ptr();
        // SAFETY: the key length follows the header in the width the header says; the
        // inline length byte sits where `Shape` puts it for inline values.
        unsafe {
            let key_len = if header & LONG_KEY != 0 {
                p.add(4).cast::<u32>().read_unaligned() as usize
            } else {
                p.add(4).read() as usize
            };
            let probe = Shape::new(header, key_len, 0);
            if (header & KIND_MASK) >> KIND_SHIFT == KIND_INLINE {
                let inline_len = p.add(probe.value_len_at).read() as usize;
                Shape::new(header, key_len, inline_len)
            } else {
                probe
            }
        }
    }

    #[inline]
    fn kind(&self) -> u32 {
        (self.header() & KIND_MASK) >> KIND_SHIFT
    }

    /// The key name.
    #[inline]
    pub fn key(&self) -> &[u8] {
        let s = self.shape();
        // SAFETY: `key_len` bytes of key start at `key_at`, inside the blob we own.
        unsafe { std::slice::from_raw_parts(self.ptr().add(s.key_at), s.key_len) }
    }

    fn boxed_ptr(&self, s: &Shape) -> *mut Value {
        // SAFETY: boxed entries keep the raw `Box<Value>` pointer at `value_at`.
        unsafe {
            self.ptr()
                .add(s.value_at)
                .cast::<*mut Value>()
                .read_unaligned()
        }
    }

    /// Where a long string's bytes are and how many (`KIND_LONG` entries only).
    fn long_parts(&self, s: &Shape) -> (*mut u8, usize) {
        debug_assert_eq!((s.header & KIND_MASK) >> KIND_SHIFT, KIND_LONG);
        // SAFETY: long-string entries keep the bytes' pointer and length at `value_at`.
        unsafe {
            let v = self.ptr().add(s.value_at);
            (
                v.cast::<*mut u8>().read_unaligned(),
                v.add(8).cast::<usize>().read_unaligned(),
            )
        }
    }

    /// Takes a long string's bytes out, leaving an empty string in their place (dropping an
    /// empty boxed slice frees nothing).
    fn take_long(&mut self, s: &Shape) -> Vec<u8> {
        let (p, len) = self.long_parts(s);
        // SAFETY: the pointer and length came from `Box::into_raw` of a boxed slice owned by
        // this entry (borrowed mutably); the field is overwritten right after, so the box is
        // released only once.
        let bytes = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, len)) };
        // SAFETY: the field lies inside the blob; a dangling pointer with length 0 is a
        // valid empty boxed slice.
        unsafe {
            let v = self.ptr().add(s.value_at);
            v.cast::<*mut u8>()
                .write_unaligned(NonNull::<u8>::dangling().as_ptr());
            v.add(8).cast::<usize>().write_unaligned(0);
        }
        bytes.into_vec()
    }

    /// The value.
    #[inline]
    pub fn value(&self) -> ValueRef<'_> {
        let s = self.shape();
        let p = self.ptr();
        match (s.header & KIND_MASK) >> KIND_SHIFT {
            // SAFETY: integer entries keep 8 bytes of i64 at `value_at`.
            KIND_INT => ValueRef::Int(unsafe { p.add(s.value_at).cast::<i64>().read_unaligned() }),
            KIND_INLINE => ValueRef::Str(
                // SAFETY: inline strings occupy the blob from `value_at` to its end.
                unsafe { std::slice::from_raw_parts(p.add(s.value_at), s.size - s.value_at) },
            ),
            KIND_LONG => {
                let (bytes, len) = self.long_parts(&s);
                // SAFETY: the entry owns these bytes for as long as this borrow lasts.
                ValueRef::Str(unsafe { std::slice::from_raw_parts(bytes, len) })
            }
            // SAFETY: the box lives as long as the entry, which this borrow keeps alive.
            _ => unsafe { &*self.boxed_ptr(&s) }.as_ref(),
        }
    }

    /// The value for changing in place, for the aggregate types (which live in their own
    /// allocation); `None` for strings and integers, which are replaced with
    /// [`Entry::set_value`].
    pub fn value_mut(&mut self) -> Option<&mut Value> {
        if self.kind() != KIND_BOXED {
            return None;
        }
        let s = self.shape();
        // SAFETY: the box is owned by this entry, which is borrowed mutably.
        Some(unsafe { &mut *self.boxed_ptr(&s) })
    }

    /// Replaces the value, keeping key, expiry and access stamp.
    pub fn set_value(&mut self, value: Value) {
        let replacement = Entry::new(
            self.key(),
            value,
            self.expire_raw(),
            self.stamp(),
            self.tag(),
        );
        *self = replacement;
    }

    /// Takes the string bytes out (copied when stored inline) for a read-modify-write such
    /// as APPEND; `None` for non-string values.
    pub fn take_string(&mut self) -> Option<Vec<u8>> {
        if self.kind() == KIND_LONG {
            let s = self.shape();
            return Some(self.take_long(&s));
        }
        let mut buf = itoa::Buffer::new();
        self.value().as_bytes(&mut buf).map(<[u8]>::to_vec)
    }

    /// Consumes the entry, returning its value.
    pub fn into_value(mut self) -> Value {
        let s = self.shape();
        let value = match (s.header & KIND_MASK) >> KIND_SHIFT {
            KIND_BOXED => {
                let raw = self.boxed_ptr(&s);
                // SAFETY: the box is released exactly once: here, and the kind is changed
                // below so that `drop` does not release it again.
                let v = *unsafe { Box::from_raw(raw) };
                // SAFETY: the header is ours to rewrite.
                unsafe {
                    self.ptr()
                        .cast::<u32>()
                        .write(s.header & !KIND_MASK | (KIND_INT << KIND_SHIFT))
                };
                v
            }
            KIND_LONG => Value::Str(self.take_long(&s)),
            _ => self.value().to_owned_value(),
        };
        drop(self);
        value
    }

    /// The access stamp (see [`super::access`]).
    #[inline]
    pub fn stamp(&self) -> u32 {
        self.header() & STAMP_MASK
    }

    /// Records an access now.
    #[inline]
    pub(crate) fn touch(&mut self, now_ms: u64) {
        let header = self.header();
        let stamp = super::access::touched(header & STAMP_MASK, now_ms);
        // SAFETY: the header is ours to rewrite.
        unsafe { self.ptr().cast::<u32>().write(header & !STAMP_MASK | stamp) };
    }

    /// Where the expiry field lives; only for entries that have one.
    fn expiry_field(&self) -> *mut u64 {
        debug_assert!(self.header() & HAS_EXPIRY != 0);
        // SAFETY: entries with an expiry keep it at `expiry_at`, inside the blob.
        unsafe { self.ptr().add(self.shape().expiry_at).cast::<u64>() }
    }

    fn expire_raw(&self) -> u64 {
        if self.header() & HAS_EXPIRY == 0 {
            return 0;
        }
        // SAFETY: the field exists (checked above) and may be unaligned.
        unsafe { self.expiry_field().read_unaligned() }
    }

    /// Sets (non-zero) or clears (0) the expiry.
    pub(crate) fn set_expire_raw(&mut self, at: u64) {
        let has = self.header() & HAS_EXPIRY != 0;
        if has && at != 0 {
            // SAFETY: the expiry field exists; we own the blob.
            unsafe { self.expiry_field().write_unaligned(at) };
            return;
        }
        if !has && at == 0 {
            return;
        }
        // The field appears or disappears: repack, moving the value across.
        let stamp = self.stamp();
        let key = self.key().to_vec();
        let tag = self.tag();
        let old = std::mem::replace(self, Entry::new(&key, Value::Int(0), 0, 0, tag));
        *self = Entry::new(&key, old.into_value(), at, stamp, tag);
    }

    /// Absolute expiry in Unix milliseconds, if any.
    #[inline]
    pub fn expire_at(&self) -> Option<u64> {
        let at = self.expire_raw();
        (at != 0).then_some(at)
    }

    /// Whether the key is logically gone at `now_ms`.
    #[inline]
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.header() & HAS_EXPIRY != 0 && self.expire_raw() <= now_ms
    }

    /// The access counter the LFU policies use, decayed to `now_ms`.
    pub fn lfu_counter(&self, now_ms: u64) -> u8 {
        super::access::decayed_counter(self.stamp(), now_ms)
    }

    /// Seconds since the last access.
    pub fn idle_secs(&self, now_ms: u64) -> u64 {
        super::access::idle_secs(self.stamp(), now_ms)
    }

    /// Bytes of the entry's own allocation (the table's pointer not included).
    pub fn packed_size(&self) -> usize {
        self.shape().size
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let s = self.shape();
        match (s.header & KIND_MASK) >> KIND_SHIFT {
            // SAFETY: the box was created by `Box::into_raw` in `new` and not released.
            KIND_BOXED => drop(unsafe { Box::from_raw(self.boxed_ptr(&s)) }),
            KIND_LONG => drop(self.take_long(&s)),
            _ => {}
        }
        // SAFETY: the blob was allocated in `new` with this same layout.
        unsafe { dealloc(self.ptr(), s.layout()) };
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value", &self.value())
            .field("expire_at", &self.expire_at())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_string_is_its_bytes_behind_one_pointer() {
        let long = vec![b'z'; 4000];
        let mut e = Entry::new(b"k", Value::Str(long.clone()), 0, 0, 1);
        // Header, key length, key, then pointer + length: no boxed Value in between.
        assert_eq!(e.packed_size(), 4 + 1 + 1 + 16);
        assert_eq!(e.value().heap_size(), 4000);
        assert_eq!(e.take_string(), Some(long.clone()));
        assert!(matches!(e.value(), ValueRef::Str(b"")));
        drop(e);
        let e = Entry::new(b"k", Value::Str(long.clone()), 7, 0, 1);
        assert_eq!(e.into_value(), Value::Str(long));
    }

    #[test]
    fn packs_and_reads_back_every_kind() {
        let long_key = vec![b'k'; 300];
        let long_str = vec![b'v'; 1000];
        let values = [
            Value::Int(-7),
            Value::Str(b"".to_vec()),
            Value::Str(b"hello".to_vec()),
            Value::Str(vec![b'x'; INLINE_MAX]),
            Value::Str(long_str.clone()),
            Value::List(Box::default()),
        ];
        for key in [&b"k"[..], &long_key[..]] {
            for expire in [0, 1_700_000_000_000] {
                for v in &values {
                    let mut e = Entry::new(key, v.clone(), expire, 0x123456, 0xBEEF);
                    assert_eq!(e.key(), key);
                    assert_eq!(e.value().to_owned_value(), *v);
                    assert_eq!(e.expire_at(), (expire != 0).then_some(expire));
                    assert_eq!(e.stamp(), 0x123456);
                    e.set_expire_raw(42);
                    assert_eq!(e.expire_at(), Some(42));
                    assert_eq!(e.value().to_owned_value(), *v);
                    e.set_expire_raw(0);
                    assert_eq!(e.expire_at(), None);
                    assert_eq!(e.key(), key);
                    e.set_value(Value::Str(long_str.clone()));
                    assert_eq!(e.take_string(), Some(long_str.clone()));
                    assert_eq!(e.stamp(), 0x123456);
                    e.set_value(v.clone());
                    assert_eq!(e.tag(), 0xBEEF, "the tag survives every repack");
                    assert_eq!(e.into_value(), *v);
                }
            }
        }
    }

    #[test]
    fn a_small_string_costs_one_small_allocation() {
        let e = Entry::new(b"key:123456", Value::Str(vec![b'x'; 10]), 0, 0, 0);
        assert!(e.packed_size() <= 32, "{}", e.packed_size());
        assert_eq!(std::mem::size_of::<Entry>(), 8);
    }
}

/**
 * LZMA2 decoding (the compression inside the .xz streams of TIFF's LZMA codec, 34925), into one
 * output buffer that also serves as the dictionary: a TIFF block is decoded whole. Follows
 * xz-embedded's decoder (public domain, Lasse Collin), whose names the functions keep. Pure: bytes
 * in, bytes out; corrupt input throws a Lzma2Error, never reads or writes out of bounds.
 */

export class Lzma2Error extends Error {}

const PROB_INIT = 1024; // half of 2^11: a bit model starts undecided
const STATES = 12;
const POS_STATES_MAX = 16;
const LITERAL_CODER_SIZE = 0x300;
const DIST_STATES = 4;
const DIST_SLOTS = 64;
const DIST_MODEL_START = 4;
const DIST_MODEL_END = 14;
const FULL_DISTANCES = 128;
const ALIGN_BITS = 4;
const MATCH_LEN_MIN = 2;
const LEN_LOW = 8, LEN_MID = 8, LEN_HIGH = 256;

/**
 * The range decoder over one LZMA chunk's bytes [pos, end). `range` and `code` are unsigned 32-bit
 * values held as int32 (V8 keeps those in registers; numbers past 2^31 would be doubles): products
 * by Math.imul, unsigned comparisons with the sign bit flipped (`^ SIGN`).
 */
class RangeDecoder {
  range = -1; // 0xffffffff
  code = 0;
  pos: number;

  constructor(private readonly buf: Uint8Array, start: number, readonly end: number) {
    if (end - start < 5 || buf[start] !== 0) throw new Lzma2Error('an LZMA chunk does not start with a range coder header');
    this.pos = start + 1;
    for (let i = 0; i < 4; i++) this.code = (this.code << 8) | buf[this.pos++];
    if (this.code === -1) throw new Lzma2Error('an LZMA chunk starts with an invalid range coder state');
  }

  private normalize(): void {
    if ((this.range & 0xff000000) === 0) {
      // reading past the chunk means corrupt data: a zero keeps the state bounded until the caller's check
      this.range <<= 8;
      this.code = (this.code << 8) | (this.pos < this.end ? this.buf[this.pos] : 0);
      this.pos++;
    }
  }

  bit(probs: Uint16Array, i: number): number {
    this.normalize();
    const p = probs[i];
    const bound = Math.imul(this.range >>> 11, p);
    if ((this.code ^ SIGN) < (bound ^ SIGN)) {
      this.range = bound;
      probs[i] = p + ((2048 - p) >>> 5);
      return 0;
    }
    this.range = (this.range - bound) | 0;
    this.code = (this.code - bound) | 0;
    probs[i] = p - (p >>> 5);
    return 1;
  }

  /**
   * A literal's eight bits (a bit tree of 0x100 leaves at probs[base + 1...]): bit() with the coder's
   * state in locals, for the loop that decodes most of an image's bytes. With `matchByte` (after a
   * match), the byte at rep0 steers the tree until the first bit that differs from it.
   */
  literal(probs: Uint16Array, base: number, matchByte: number): number {
    let range = this.range, code = this.code, pos = this.pos;
    const buf = this.buf, end = this.end;
    let symbol = 1;
    // offset 0x100 while the decoded bits follow matchByte's, 0 after (plain literal: 0 throughout)
    let offset = matchByte < 0 ? 0 : 0x100;
    let match = matchByte < 0 ? 0 : matchByte << 1;
    do {
      if ((range & 0xff000000) === 0) {
        range <<= 8;
        code = (code << 8) | (pos < end ? buf[pos] : 0);
        pos++;
      }
      const matchBit = match & offset;
      match <<= 1;
      const i = base + offset + matchBit + symbol;
      const p = probs[i];
      const bound = Math.imul(range >>> 11, p);
      if ((code ^ SIGN) < (bound ^ SIGN)) {
        range = bound;
        probs[i] = p + ((2048 - p) >>> 5);
        symbol <<= 1;
        offset &= ~matchBit;
      } else {
        range = (range - bound) | 0;
        code = (code - bound) | 0;
        probs[i] = p - (p >>> 5);
        symbol = (symbol << 1) + 1;
        offset = matchBit;
      }
    } while (symbol < 0x100);
    this.range = range;
    this.code = code;
    this.pos = pos;
    return symbol;
  }

  /** A bit tree of `limit` leaves rooted at probs[base + 1]: the leaf's index, in [limit, 2 * limit). */
  bittree(probs: Uint16Array, base: number, limit: number): number {
    let symbol = 1;
    do symbol = (symbol << 1) | this.bit(probs, base + symbol); while (symbol < limit);
    return symbol;
  }

  /** `bits` bits, least significant first, added to `dest`. */
  bittreeReverse(probs: Uint16Array, base: number, dest: number, bits: number): number {
    let symbol = 1;
    for (let i = 0; i < bits; i++) {
      const b = this.bit(probs, base + symbol);
      symbol = (symbol << 1) | b;
      dest += b * 2 ** i;
    }
    return dest;
  }

  /** `bits` bits with probability one half each, most significant first, appended to `dest`. */
  direct(dest: number, bits: number): number {
    for (let i = 0; i < bits; i++) {
      this.normalize();
      this.range = this.range >>> 1;
      let b = 0;
      if ((this.code ^ SIGN) >= (this.range ^ SIGN)) { this.code = (this.code - this.range) | 0; b = 1; }
      dest = dest * 2 + b;
    }
    return dest;
  }
}

/** Flips an int32's sign bit: signed comparison of flipped values is unsigned comparison of the originals. */
const SIGN = -0x80000000;

class LengthDecoder {
  choice = new Uint16Array(2);
  low = new Uint16Array(POS_STATES_MAX * LEN_LOW);
  mid = new Uint16Array(POS_STATES_MAX * LEN_MID);
  high = new Uint16Array(LEN_HIGH);

  reset(): void {
    this.choice.fill(PROB_INIT); this.low.fill(PROB_INIT); this.mid.fill(PROB_INIT); this.high.fill(PROB_INIT);
  }

  decode(rc: RangeDecoder, posState: number): number {
    // bit trees index from 1, so each tree's base is one before its slice
    if (!rc.bit(this.choice, 0)) return MATCH_LEN_MIN + rc.bittree(this.low, posState * LEN_LOW - 1, LEN_LOW) - LEN_LOW;
    if (!rc.bit(this.choice, 1)) return MATCH_LEN_MIN + LEN_LOW + rc.bittree(this.mid, posState * LEN_MID - 1, LEN_MID) - LEN_MID;
    return MATCH_LEN_MIN + LEN_LOW + LEN_MID + rc.bittree(this.high, -1, LEN_HIGH) - LEN_HIGH;
  }
}

/** The LZMA decoder's state that LZMA2 chunks carry over or reset. */
class LzmaState {
  lc = 0; lp = 0; pb = 0;
  state = 0;
  rep0 = 0; rep1 = 0; rep2 = 0; rep3 = 0;
  isMatch = new Uint16Array(STATES * POS_STATES_MAX);
  isRep = new Uint16Array(STATES);
  isRep0 = new Uint16Array(STATES);
  isRep1 = new Uint16Array(STATES);
  isRep2 = new Uint16Array(STATES);
  isRep0Long = new Uint16Array(STATES * POS_STATES_MAX);
  distSlot = new Uint16Array(DIST_STATES * DIST_SLOTS);
  distSpecial = new Uint16Array(FULL_DISTANCES - DIST_MODEL_END);
  distAlign = new Uint16Array(1 << ALIGN_BITS);
  literal = new Uint16Array(LITERAL_CODER_SIZE);
  matchLen = new LengthDecoder();
  repLen = new LengthDecoder();

  /** lc, lp and pb from an LZMA2 properties byte. */
  props(byte: number): void {
    if (byte > (4 * 5 + 4) * 9 + 8) throw new Lzma2Error(`invalid LZMA properties byte ${byte}`);
    this.pb = Math.floor(byte / 45);
    byte -= this.pb * 45;
    this.lp = Math.floor(byte / 9);
    this.lc = byte - this.lp * 9;
    if (this.lc + this.lp > 4) throw new Lzma2Error(`LZMA2 allows lc + lp <= 4, got lc ${this.lc}, lp ${this.lp}`);
    if (this.literal.length !== LITERAL_CODER_SIZE << (this.lc + this.lp)) this.literal = new Uint16Array(LITERAL_CODER_SIZE << (this.lc + this.lp));
  }

  reset(): void {
    this.state = 0;
    this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
    for (const p of [this.isMatch, this.isRep, this.isRep0, this.isRep1, this.isRep2, this.isRep0Long, this.distSlot, this.distSpecial, this.distAlign, this.literal]) p.fill(PROB_INIT);
    this.matchLen.reset();
    this.repLen.reset();
  }
}

/**
 * The output, which is also the dictionary: bytes since the last dictionary reset (`dictStart`)
 * may be referred back to.
 */
export interface Lzma2Output {
  buf: Uint8Array;
  pos: number;
  dictStart: number;
}

/**
 * Decodes the LZMA2 data at input[start...] into out (at out.pos), up to and including its end
 * marker; returns the input position after it. Throws when the data would write past out.buf.
 */
export function decodeLzma2(input: Uint8Array, start: number, out: Lzma2Output): number {
  const s = new LzmaState();
  let needDictReset = true, needProps = true;
  for (let pos = start; ;) {
    const c = readChunkHeader(input, pos);
    if (!c) return pos + 1;
    if (c.dictReset) {
      needProps = true;
      needDictReset = false;
      out.dictStart = out.pos;
    } else if (needDictReset) {
      throw new Lzma2Error('LZMA2 data does not begin with a dictionary reset');
    }
    if (out.pos + c.unpacked > out.buf.length) throw new Lzma2Error(`LZMA2 data decodes to more than the ${out.buf.length} bytes expected`);
    if (c.kind === 'lzma') {
      if (c.props >= 0) {
        s.props(c.props);
        needProps = false;
      } else if (needProps) {
        throw new Lzma2Error('an LZMA2 chunk needs properties that were never given');
      }
      if (c.stateReset) s.reset();
      decodeChunk(s, new RangeDecoder(input, c.dataStart, c.end), out, out.pos + c.unpacked);
    } else {
      // an uncompressed chunk: copied into the dictionary as it is
      out.buf.set(input.subarray(c.dataStart, c.end), out.pos);
      out.pos += c.unpacked;
    }
    pos = c.end;
  }
}

/**
 * The size the LZMA2 data at input[start...] decodes to, and the input position after its end
 * marker, from its chunk headers alone (nothing is decoded): the output can be allocated once.
 */
export function lzma2Extent(input: Uint8Array, start: number): { bytes: number; end: number } {
  let bytes = 0;
  for (let pos = start; ;) {
    const c = readChunkHeader(input, pos);
    if (!c) return { bytes, end: pos + 1 };
    bytes += c.unpacked;
    pos = c.end;
  }
}

interface ChunkHeader {
  kind: 'lzma' | 'uncompressed';
  /** Bytes it decodes to; where its data begins and ends in the input. */
  unpacked: number;
  dataStart: number;
  end: number;
  dictReset: boolean;
  stateReset: boolean;
  /** Its properties byte, or -1 when it keeps the previous ones. */
  props: number;
}

/** The LZMA2 chunk header at input[pos], checked to lie within the input; null at the end marker. */
function readChunkHeader(input: Uint8Array, pos: number): ChunkHeader | null {
  if (pos >= input.length) throw new Lzma2Error('LZMA2 data ends without its end marker');
  const control = input[pos++];
  if (control === 0x00) return null;
  let header: ChunkHeader;
  if (control >= 0x80) {
    if (pos + 4 > input.length) throw new Lzma2Error('an LZMA2 chunk header is truncated');
    const unpacked = (control & 0x1f) * 65536 + input[pos] * 256 + input[pos + 1] + 1;
    const packed = input[pos + 2] * 256 + input[pos + 3] + 1;
    pos += 4;
    let props = -1;
    if (control >= 0xc0) {
      if (pos >= input.length) throw new Lzma2Error('an LZMA2 chunk header is truncated');
      props = input[pos++];
    }
    header = { kind: 'lzma', unpacked, dataStart: pos, end: pos + packed, dictReset: control >= 0xe0, stateReset: control >= 0xa0, props };
  } else if (control <= 0x02) {
    if (pos + 2 > input.length) throw new Lzma2Error('an LZMA2 chunk header is truncated');
    const size = input[pos] * 256 + input[pos + 1] + 1;
    header = { kind: 'uncompressed', unpacked: size, dataStart: pos + 2, end: pos + 2 + size, dictReset: control === 0x01, stateReset: false, props: -1 };
  } else {
    throw new Lzma2Error(`invalid LZMA2 control byte 0x${control.toString(16)}`);
  }
  if (header.end > input.length) throw new Lzma2Error('an LZMA2 chunk runs past the end of the data');
  return header;
}

function decodeChunk(s: LzmaState, rc: RangeDecoder, out: Lzma2Output, limit: number): void {
  const buf = out.buf, dictStart = out.dictStart;
  const posMask = (1 << s.pb) - 1, litPosMask = (1 << s.lp) - 1;
  let pos = out.pos;
  while (pos < limit) {
    const posState = (pos - dictStart) & posMask;
    if (!rc.bit(s.isMatch, s.state * POS_STATES_MAX + posState)) {
      // a literal, coded in the context of the previous byte (and of the byte at rep0 after a match)
      const prev = pos > dictStart ? buf[pos - 1] : 0;
      const base = (((((pos - dictStart) & litPosMask) << s.lc) + (prev >> (8 - s.lc))) * LITERAL_CODER_SIZE);
      let matchByte = -1;
      if (s.state >= 7) {
        if (s.rep0 >= pos - dictStart) throw new Lzma2Error('LZMA data refers back past the start of its dictionary');
        matchByte = buf[pos - s.rep0 - 1];
      }
      const symbol = rc.literal(s.literal, base, matchByte);
      buf[pos++] = symbol & 0xff;
      s.state = s.state <= 3 ? 0 : s.state <= 9 ? s.state - 3 : s.state - 6;
      continue;
    }
    let len: number;
    if (rc.bit(s.isRep, s.state)) {
      // a repeat of one of the last four distances
      if (!rc.bit(s.isRep0, s.state)) {
        if (!rc.bit(s.isRep0Long, s.state * POS_STATES_MAX + posState)) {
          s.state = s.state < 7 ? 9 : 11;
          len = 1;
          pos = copyMatch(buf, pos, s.rep0, len, dictStart, limit);
          continue;
        }
      } else {
        let tmp: number;
        if (!rc.bit(s.isRep1, s.state)) {
          tmp = s.rep1;
        } else {
          if (!rc.bit(s.isRep2, s.state)) {
            tmp = s.rep2;
          } else {
            tmp = s.rep3;
            s.rep3 = s.rep2;
          }
          s.rep2 = s.rep1;
        }
        s.rep1 = s.rep0;
        s.rep0 = tmp;
      }
      s.state = s.state < 7 ? 8 : 11;
      len = s.repLen.decode(rc, posState);
    } else {
      // a new distance
      s.state = s.state < 7 ? 7 : 10;
      s.rep3 = s.rep2; s.rep2 = s.rep1; s.rep1 = s.rep0;
      len = s.matchLen.decode(rc, posState);
      const distState = len < DIST_STATES + MATCH_LEN_MIN ? len - MATCH_LEN_MIN : DIST_STATES - 1;
      const slot = rc.bittree(s.distSlot, distState * DIST_SLOTS - 1, DIST_SLOTS) - DIST_SLOTS;
      if (slot < DIST_MODEL_START) {
        s.rep0 = slot;
      } else {
        const bits = (slot >> 1) - 1;
        const high = 2 + (slot & 1);
        if (slot < DIST_MODEL_END) {
          const rep0 = high * 2 ** bits;
          s.rep0 = rc.bittreeReverse(s.distSpecial, rep0 - slot - 1, rep0, bits);
        } else {
          const mid = rc.direct(high, bits - ALIGN_BITS);
          s.rep0 = rc.bittreeReverse(s.distAlign, 0, mid * 2 ** ALIGN_BITS, ALIGN_BITS);
        }
      }
    }
    pos = copyMatch(buf, pos, s.rep0, len, dictStart, limit);
  }
  out.pos = pos;
  // the range coder's last bytes flush its state: a chunk that needed more bytes than it holds is corrupt
  if (rc.pos > rc.end) throw new Lzma2Error('an LZMA chunk is truncated');
}

/** Copies `len` bytes from `dist + 1` back; a match may overlap its own output (runs). */
function copyMatch(buf: Uint8Array, pos: number, dist: number, len: number, dictStart: number, limit: number): number {
  if (dist >= pos - dictStart) throw new Lzma2Error('LZMA data refers back past the start of its dictionary');
  if (pos + len > limit) throw new Lzma2Error('an LZMA match runs past the end of its chunk');
  let from = pos - dist - 1;
  // copyWithin pays a call into the runtime: worth it for long matches only (most are a few bytes)
  if (len >= 64 && dist + 1 >= len) {
    buf.copyWithin(pos, from, from + len);
    return pos + len;
  }
  for (let i = 0; i < len; i++) buf[pos++] = buf[from++];
  return pos;
}

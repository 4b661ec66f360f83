// An 8-bit grayscale PNG of a drawing. The pad is black ink on white paper, so one byte per
// pixel says everything, and the server inflates a quarter of the bytes of the canvas's own
// RGBA PNG, and decodes it faster.

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

/** Whether this browser can make one (it needs CompressionStream); if not, send canvas.toDataURL(). */
export const canEncodeGray = typeof CompressionStream === "function";

/**
 * ImageData (RGBA) -> the data URL of an 8-bit grayscale PNG of it: luminance as Pillow computes
 * it (ITU-R 601-2, 16-bit fixed point), any transparency laid over white paper.
 */
export async function grayPNGDataURL({ width, height, data }) {
  const rows = new Uint8Array((width + 1) * height); // each row: filter type 0 (none), then its pixels
  for (let y = 0, i = 0, o = 0; y < height; y++) {
    rows[o++] = 0;
    for (let x = 0; x < width; x++, i += 4) {
      const luma = (data[i] * 19595 + data[i + 1] * 38470 + data[i + 2] * 7471 + 0x8000) >>> 16;
      rows[o++] = 255 - Math.round((data[i + 3] * (255 - luma)) / 255);
    }
  }
  const header = new Uint8Array(13); // bit depth 8, colour type 0 (gray); default compression, filter, no interlace
  new DataView(header.buffer).setUint32(0, width);
  new DataView(header.buffer).setUint32(4, height);
  header[8] = 8;
  const png = new Blob(
    [
      new Uint8Array(SIGNATURE),
      chunk("IHDR", header),
      chunk("IDAT", await deflate(rows)),
      chunk("IEND", new Uint8Array(0)),
    ],
    { type: "image/png" },
  );
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(png);
  });
}

/** Bytes -> their zlib stream (what a PNG's IDAT holds). */
async function deflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** One PNG chunk: length, type, data, CRC-32 of type and data. */
function chunk(type, body) {
  const out = new Uint8Array(body.length + 12);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  for (let k = 0; k < 4; k++) out[4 + k] = type.charCodeAt(k);
  out.set(body, 8);
  let crc = 0xffffffff;
  for (let k = 4; k < body.length + 8; k++) crc = CRC_TABLE[(crc ^ out[k]) & 0xff] ^ (crc >>> 8);
  view.setUint32(body.length + 8, (crc ^ 0xffffffff) >>> 0);
  return out;
}

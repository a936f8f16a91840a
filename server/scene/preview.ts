/**
 * A PNG preview of a scene, for people judging its realism (docs/scene.png): the whole image
 * downsampled beside a detail at twice native resolution, so both the landscape (stands,
 * clearings, tracks) and single crowns (texture, shading, shadows) show.
 */
import sharp from 'sharp';

export async function writeScenePreview(imagePath: string, pngPath: string, panel = 512): Promise<void> {
  const meta = await sharp(imagePath).metadata();
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (!width || !height) throw new Error(`cannot read ${imagePath}`);
  const overview = await sharp(imagePath).resize(panel, panel, { fit: 'inside', kernel: 'lanczos3' }).png().toBuffer();
  // Detail: a window at the image centre, shown at 2x so crowns read clearly.
  const side = Math.min(panel / 2, width, height);
  const left = Math.floor((width - side) / 2);
  const top = Math.floor((height - side) / 2);
  const detail = await sharp(imagePath).extract({ left, top, width: side, height: side }).resize(side * 2, side * 2, { kernel: 'nearest' }).png().toBuffer();
  const gap = 8;
  await sharp({ create: { width: panel * 2 + gap, height: panel, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite([
      { input: overview, left: 0, top: 0 },
      { input: detail, left: panel + gap, top: 0 },
    ])
    .png({ compressionLevel: 9 })
    .toFile(pngPath);
}

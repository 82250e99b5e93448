import path from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { grayImage } from '../../src/tools/fixtures/images.js';
import { screenPane, writeScreenVideo } from '../../src/tools/fixtures/screen-video.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/fixtures.js';

test('camera snapshot: the frame with the region drawn in red, and the region as it is classified', async (t) => {
  const dir = tempDir(t);
  const video = path.join(dir, 'screen.mkv');
  await writeScreenVideo(video, [{ image: await grayImage(200, { width: 64, height: 64 }), seconds: 1 }], { width: 320, height: 240, fps: 5 });
  const pane = screenPane(320, 240);
  const out = path.join(dir, 'frame.png');
  const run = await runCli(['camera', 'snapshot', '--out', out], {
    CSPINE_CAPTURE__CAMERA__INPUT: video,
    CSPINE_CAPTURE__CAMERA__ROI: JSON.stringify(pane),
    CSPINE_CAPTURE__CAMERA__WIDTH: '96',
    CSPINE_CAPTURE__CAMERA__HEIGHT: '96',
  });
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /frame\.png: 320×240 from .*screen\.mkv, region \{"x":64/);
  const frame = await sharp(out).raw().toBuffer({ resolveWithObject: true });
  t.deepEqual([frame.info.width, frame.info.height], [320, 240]);
  // The region's edge is drawn in red on a grey picture.
  const at = (x: number, y: number) => Array.from(frame.data.subarray((y * 320 + x) * frame.info.channels, (y * 320 + x) * frame.info.channels + 3));
  const [red, green, blue] = at(pane.x + pane.width / 2, pane.y);
  t.true(red! > 200 && green! < 90 && blue! < 90, `red at the region's top edge: ${[red, green, blue].join(',')}`);
  const cutOut = await sharp(path.join(dir, 'frame-roi.png')).stats();
  const meta = await sharp(path.join(dir, 'frame-roi.png')).metadata();
  t.deepEqual([meta.width, meta.height], [96, 96]);
  t.true(Math.abs(cutOut.channels[0]!.mean - 200) < 20, `the cut-out is the image (mean ${cutOut.channels[0]!.mean.toFixed(0)})`);
});

test('camera snapshot: no frame is a clear error, exit 1', async (t) => {
  const dir = tempDir(t);
  const run = await runCli(['camera', 'snapshot', '--out', path.join(dir, 'frame.png')], { CSPINE_CAPTURE__CAMERA__INPUT: path.join(dir, 'unplugged') });
  t.is(run.code, 1);
  t.regex(run.stderr, /E_CAMERA_UNAVAILABLE: no frame from .*unplugged/);
});

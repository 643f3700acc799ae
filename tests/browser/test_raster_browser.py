"""Lantern's "browser" raster against the art drawn by Chromium itself, pixel for pixel.

The page below draws GEN1_SPEC §2 on a 2D canvas the way the original browser renderer did
(a linear gradient, one `lineWidth = 1` stroke per flow line at rgba(255,255,255,0.6), 8 px
`fillRect` contour cells), in Debian's chromium (headless, software raster: Skia on the CPU).
Every reference frame is drawn there and then; nothing is stored. Lantern renders the same
frames with `raster="browser"`; the default `cairo` raster is measured beside it.

    .venv/bin/pytest -q -s tests/browser/test_raster_browser.py   # -s prints the PSNRs

What remains after the lines: Chromium's gradient is within ±1 level of Lantern's on about a
quarter of the pixels, and its contour cells within -2..+1 (its own 8-bit blend), about 50 dB.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from playwright.sync_api import Browser, Page

from render import Gen1Settings, RenderOptions, frame_time, render_frame
from render.art import LINE_ALPHA, LINE_RGB
from render.layers import background, flow_lines
from render.strokes import draw_strokes

pytestmark = [pytest.mark.browser]

Frame = npt.NDArray[np.uint8]

# GEN1_SPEC §2 on a canvas, as the original drew it. `wave` is §2.2, `frameTime` §2.1,
# the gradient §2.3 (color1 at c + S·(cos a, sin a), color2 at c - S·(cos a, sin a)), the
# lines §2.4 and the contour cells §2.5 (alpha (0.3(i+1)/L)²·s as one rgba() colour). The
# layout is in pixels at 512, scaled by S/512 (Lantern's scaling; at 512 it is the spec's).
ART_JS = """
function wave(w, x, y, phase) {
  let total = 0;
  for (let o = 0; o < w.octaves; o++) {
    const f = w.baseFrequency * 2 ** o, a = w.amplitude / 2 ** o;
    total += a * Math.sin(x * f + phase) * Math.cos(y * f + phase);
  }
  return total;
}
function gradient(w, x, y, phase) {
  const here = wave(w, x, y, phase);
  return [wave(w, x + 1, y, phase) - here, wave(w, x, y + 1, phase) - here];
}
function frameTime(options, f, direction) {
  if (options.timing === 'legacy') { const t = 0.2 * f; return [0.01 * t, (t / 100) * direction]; }
  const n = options.frames, k = Math.max(1, Math.round(0.002 * n / (2 * Math.PI)));
  const phase = 2 * Math.PI * ((k * f) % n) / n;
  return [phase, phase * direction];
}
function drawArt(canvas, s, options, f) {
  const S = options.size, unit = S / 512, ff = s.flowFields, ct = s.contour;
  canvas.width = S; canvas.height = S;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const [phase, angle] = frameTime(options, f, s.flowField.direction);
  if (s.flowField.enabled) {
    const c = S / 2, dx = Math.cos(angle) * S, dy = Math.sin(angle) * S;
    const g = ctx.createLinearGradient(c + dx, c + dy, c - dx, c - dy);
    g.addColorStop(0, s.flowField.color1);
    g.addColorStop(1, s.flowField.color2);
    ctx.fillStyle = g;
    ctx.fillRect(0, 0, S, S);
  }
  if (ff.enabled) {
    const n = Math.floor(512 * ff.lineDensity), cell = 512 / n, turn = ff.rotation * Math.PI / 180;
    ctx.strokeStyle = 'rgba(255, 255, 255, 0.6)';
    ctx.lineWidth = unit;
    ctx.lineCap = 'butt';
    for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) {
      const x = i * cell, y = j * cell;
      let [gx, gy] = gradient(ff, x, y, phase);
      if (s.contourAffectsFlow && ct.enabled) {
        const [cx, cy] = gradient(ct, x, y, phase);
        gx = (gx + cx) / 2; gy = (gy + cy) / 2;
      }
      const norm = Math.sqrt(gx * gx + gy * gy);
      if (norm === 0) continue;
      const ux = gx / norm, uy = gy / norm;
      const ex = (ux * Math.cos(turn) - uy * Math.sin(turn)) * ff.direction;
      const ey = ux * Math.sin(turn) + uy * Math.cos(turn);
      const sx = x + cell / 2, sy = y + cell / 2;
      ctx.beginPath();
      ctx.moveTo(sx * unit, sy * unit);
      ctx.lineTo((sx + ex * ff.lineLength) * unit, (sy + ey * ff.lineLength) * unit);
      ctx.stroke();
    }
  }
  if (ct.enabled) {
    const n = 64, cell = 512 / n, levels = ct.levels, v = [];
    for (let j = -1; j <= n; j++) {
      const row = [];
      for (let i = -1; i <= n; i++) row.push(wave(ct, (i + 0.5) * cell, (j + 0.5) * cell, phase));
      v.push(row);
    }
    for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) {
      const value = v[j + 1][i + 1];
      const around = (v[j][i + 1] + v[j + 2][i + 1] + v[j + 1][i] + v[j + 1][i + 2]) / 4;
      let band = -1;  // band b covers [2b/L - 1, 2(b+1)/L - 1)
      for (let b = 0; b < levels; b++) {
        if (2 * b / levels - 1 <= value && value < 2 * (b + 1) / levels - 1) band = b;
      }
      if (band < 0) continue;
      const smooth = ct.smoothness === 0 || Math.abs(value - around) < ct.smoothness;
      const alpha = 0.3 * (band + 1) / levels;
      ctx.fillStyle = `rgba(100, 150, 255, ${alpha * alpha * (smooth ? 1 : 0.3)})`;
      ctx.fillRect(i * cell * unit, j * cell * unit, cell * unit, cell * unit);
    }
  }
  return ctx;
}
function pixels(ctx, S) {  // RGBA bytes as base64: far smaller over the protocol than JSON
  const bytes = ctx.getImageData(0, 0, S, S).data;
  let text = '';
  for (let i = 0; i < bytes.length; i += 32768) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 32768));
  }
  return btoa(text);
}
function artFrame([s, options, f]) {
  return pixels(drawArt(document.getElementById('art'), s, options, f), options.size);
}
// Lines only: Chromium strokes the given segments over the given RGB background.
function strokeOver([rgb, S, segments]) {
  const canvas = document.getElementById('art');
  canvas.width = S; canvas.height = S;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const bytes = Uint8ClampedArray.from(atob(rgb), (ch) => ch.charCodeAt(0));
  const rgba = new Uint8ClampedArray(S * S * 4);
  for (let i = 0, j = 0; i < S * S; i++, j += 3) {
    rgba[4 * i] = bytes[j]; rgba[4 * i + 1] = bytes[j + 1]; rgba[4 * i + 2] = bytes[j + 2];
    rgba[4 * i + 3] = 255;
  }
  ctx.putImageData(new ImageData(rgba, S, S), 0, 0);
  ctx.strokeStyle = 'rgba(255, 255, 255, 0.6)';
  ctx.lineWidth = 1;
  for (const [x0, y0, x1, y1] of segments) {
    ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
  }
  return pixels(ctx, S);
}
"""
PAGE = f"<!doctype html><canvas id=art width=1 height=1></canvas><script>{ART_JS}</script>"

PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "dense": {"flowFields": {"lineDensity": 0.25, "lineLength": 35}},
    "contours": {"contour": {"levels": 20, "octaves": 6, "smoothness": 0.1}},
}
FRAMES = (0, 23, 61)  # of the default 100, loop timing
TARGET_DB = 42.0


def open_art_page(browser: Browser) -> Page:
    """A blank page holding the canvas art (no server: the HTML is set directly)."""
    page = browser.new_page()
    page.set_content(PAGE)
    return page


def _rgb(encoded: str, size: int) -> Frame:
    rgba = np.frombuffer(base64.b64decode(encoded), dtype=np.uint8).reshape(size, size, 4)
    # every layer ends opaque (the gradient covers the canvas), so getImageData's
    # un-premultiplication is exact
    assert (rgba[..., 3] == 255).all()
    return rgba[..., :3]


def chromium_frame(page: Page, settings: Gen1Settings, options: RenderOptions, index: int) -> Frame:
    """Frame `index` as Chromium draws it: (S, S, 3) RGB."""
    encoded = page.evaluate("artFrame", [settings.to_dict(), options.to_dict(), index])
    return _rgb(encoded, options.size)


def chromium_strokes(page: Page, under: Frame, starts: Any, ends: Any) -> Frame:
    """Chromium's canvas strokes of the segments over `under`, an (S, S, 3) RGB frame."""
    size = under.shape[0]
    segments = np.concatenate([starts, ends], axis=1).tolist()
    payload = [base64.b64encode(under.tobytes()).decode(), size, segments]
    return _rgb(page.evaluate("strokeOver", payload), size)


def psnr(a: Frame, b: Frame) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


@pytest.fixture(scope="module")
def art_page(browser: Browser) -> Iterator[Page]:
    page = open_art_page(browser)
    yield page
    page.close()


@pytest.mark.parametrize("index", FRAMES)
@pytest.mark.parametrize("preset", ["default", "dense"])
def test_browser_raster_matches_chromium(art_page: Page, preset: str, index: int) -> None:
    settings = Gen1Settings.from_dict(PRESETS[preset])
    reference = chromium_frame(art_page, settings, RenderOptions(), index)
    browser = psnr(render_frame(settings, RenderOptions(raster="browser"), index), reference)
    cairo = psnr(render_frame(settings, RenderOptions(), index), reference)
    print(
        f"\n{preset} frame {index}: PSNR vs Chromium browser {browser:.2f} dB, cairo {cairo:.2f} dB"
    )
    assert browser >= TARGET_DB
    assert browser > cairo + 5


@pytest.mark.parametrize("preset", ["default", "dense", "contours"])
def test_browser_lines_are_chromiums_to_the_bit(art_page: Page, preset: str) -> None:
    # The lines alone: Chromium strokes Lantern's own segments over Lantern's own gradient,
    # so the gradient's and the contours' small differences are out of the comparison.
    settings, options, index = Gen1Settings.from_dict(PRESETS[preset]), RenderOptions(), 23
    phase, angle = frame_time(options, index, settings.flow_field.direction)
    under = background(settings.flow_field, options.size, angle)
    starts, ends = flow_lines(settings, options.size, phase)
    reference = chromium_strokes(art_page, np.asarray(under), starts, ends)
    lantern = under.copy()
    draw_strokes(lantern, starts, ends, 1.0, LINE_RGB, LINE_ALPHA, "browser")
    cairo = under.copy()
    draw_strokes(cairo, starts, ends, 1.0, LINE_RGB, LINE_ALPHA, "cairo")
    differing = int((np.asarray(lantern) != reference).any(axis=2).sum())
    print(f"\n{preset} lines: {len(starts)} strokes, {differing} pixels differ from Chromium "
          f"(cairo: PSNR {psnr(np.asarray(cairo), reference):.2f} dB)")  # fmt: skip
    assert differing == 0

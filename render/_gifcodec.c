/* The GIF codec's inner loops: the nearest palette colour of every pixel, and LZW.
 *
 * Both are plain loops over bytes that numpy and Pillow cannot express quickly: a colour
 * table filled as cells first appear (in numpy, a dozen whole-frame passes per frame: 1.6 ms
 * a 512 px frame against 0.4 ms here), and a GIF LZW encoder that may continue a string with
 * a pixel's second-nearest colour where that is within a tolerance ("lossy" LZW: longer
 * strings, fewer codes, a bounded colour error), which Pillow's encoder cannot.
 *
 * Section numbers refer to "Graphics Interchange Format, Version 89a" (CompuServe, 1990).
 * Everything is integer arithmetic, so the output is the same on every machine.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define COLOURS 255          /* indices 0-254 are colours; 255 is the transparent index */
#define TABLE_CELLS (1 << 21) /* 7 bits per channel */
#define NONE 255              /* no alternative colour */
#define EMPTY 0xFFFF          /* a table cell not filled yet */
#define MAX_CODES 4096       /* §22: codes are at most 12 bits */
#define LAST_CODE 4095       /* the table is cleared once the next code would be this one */

/* ---- nearest colour ------------------------------------------------------------------ */

/* A 7-bit cell's entry in the colour table: its nearest palette colour (the first of
 * equals) in the low byte; in the high byte the second nearest if it is at most `tolerance`
 * further in squared error, else NONE. Doubled units: palette 2p, cell centre
 * 4k + 1 = 2 (2k + 1/2); squared distances stay integers, so the result is exact (and the
 * nearest equals the former float32 search's). */
static uint16_t cell_entry(const uint8_t *palette, uint32_t cell, int32_t tolerance) {
    int32_t cr = (int32_t)((cell >> 14) & 127) * 4 + 1;
    int32_t cg = (int32_t)((cell >> 7) & 127) * 4 + 1;
    int32_t cb = (int32_t)(cell & 127) * 4 + 1;
    int best = 0, second = NONE;
    int64_t best_score = INT64_MAX, second_score = INT64_MAX;
    for (int i = 0; i < COLOURS; i++) {
        int32_t dr = 2 * palette[3 * i] - cr;
        int32_t dg = 2 * palette[3 * i + 1] - cg;
        int32_t db = 2 * palette[3 * i + 2] - cb;
        int64_t score = (int64_t)dr * dr + (int64_t)dg * dg + (int64_t)db * db;
        if (score < best_score) {
            second_score = best_score;
            second = best;
            best_score = score;
            best = i;
        } else if (score < second_score) {
            second_score = score;
            second = i;
        }
    }
    if (tolerance <= 0 || second_score - best_score > 4 * (int64_t)tolerance) second = NONE;
    return (uint16_t)(best | second << 8);
}

static inline int32_t distance(const uint8_t *colour, const uint8_t *pixel) {
    int32_t dr = (int32_t)colour[0] - pixel[0];
    int32_t dg = (int32_t)colour[1] - pixel[1];
    int32_t db = (int32_t)colour[2] - pixel[2];
    return dr * dr + dg * dg + db * db;
}

static PyObject *quantize(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"frame", "table", "palette", "out", "alternates", "tolerance", NULL};
    Py_buffer frame, table, palette, out, alternates = {0};
    int tolerance = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*w*y*w*|w*i", keywords, &frame, &table,
                                     &palette, &out, &alternates, &tolerance)) {
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t pixels = frame.len / 3;
    if (frame.len % 3 || out.len != pixels) {
        PyErr_SetString(PyExc_ValueError, "quantize: frame must be 3 bytes per output index");
    } else if (alternates.buf != NULL && alternates.len != pixels) {
        PyErr_SetString(PyExc_ValueError, "quantize: alternates must be 1 byte per pixel");
    } else if (table.len != (Py_ssize_t)(TABLE_CELLS * sizeof(uint16_t))) {
        PyErr_SetString(PyExc_ValueError, "quantize: the colour table must be 2**21 uint16");
    } else if (palette.len < 3 * COLOURS) {
        PyErr_SetString(PyExc_ValueError, "quantize: the palette must hold 255 colours");
    } else {
        const uint8_t *rgb = frame.buf;
        uint16_t *cells = table.buf;
        const uint8_t *colours = palette.buf;
        uint8_t *indices = out.buf, *second = alternates.buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < pixels; i++) {
            const uint8_t *pixel = rgb + 3 * i;
            uint32_t cell = (uint32_t)(pixel[0] >> 1) << 14 | (uint32_t)(pixel[1] >> 1) << 7 |
                            (uint32_t)(pixel[2] >> 1);
            uint16_t entry = cells[cell];
            if (entry == EMPTY) {
                entry = cell_entry(colours, cell, tolerance);
                cells[cell] = entry;
            }
            indices[i] = (uint8_t)entry;
            if (second) second[i] = (uint8_t)(entry >> 8);
        }
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&frame);
    PyBuffer_Release(&table);
    PyBuffer_Release(&palette);
    PyBuffer_Release(&out);
    if (alternates.buf) PyBuffer_Release(&alternates);
    return result;
}

/* ---- LZW ----------------------------------------------------------------------------- */

/* The string table: (prefix code, byte) -> code, by open addressing. At most 3837 codes in
 * 32768 slots (128 KiB): probes are short, as most lookups (and every lossy one) miss.
 * Measured per 512 px frame: 8192 slots 2.3 ms (lossless) / 3.2 ms (lossy), 32768 slots
 * 1.9 / 2.3 ms; a dense 4096 x 256 table no faster than 8192 slots (2 MiB, reads miss). */
#define SLOTS 32768
#define SLOT_BITS 15

typedef struct {
    uint32_t slot[SLOTS]; /* (prefix << 8 | byte) << 12 | code; 0 = empty */
} Dictionary;

typedef struct {
    uint8_t *out; /* with 8 bytes to spare past the last code */
    Py_ssize_t used;
    uint64_t bits;
    int count;
    int size; /* current code size in bits */
} BitWriter;

/* §22 Variable-Length-Code LZW: codes packed least significant bit first. Eight bytes are
 * stored and the whole ones kept (x86-64 and ARM64 are little-endian): no branch per byte. */
static inline void put_code(BitWriter *w, uint32_t code) {
    w->bits |= (uint64_t)code << w->count;
    w->count += w->size;
    uint64_t bits = w->bits;
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    bits = __builtin_bswap64(bits);
#endif
    memcpy(w->out + w->used, &bits, 8);
    w->used += w->count >> 3;
    w->bits >>= w->count & ~7;
    w->count &= 7;
}

static inline uint32_t slot_of(uint32_t key) { return (key * 2654435761u) >> (32 - SLOT_BITS); }

/* The code of string (prefix, byte), 0 if it has none; *free is then the slot to add it in. */
static inline uint32_t find(const Dictionary *d, uint32_t prefix, uint32_t byte, uint32_t *free) {
    uint32_t key = prefix << 8 | byte;
    uint32_t s = slot_of(key), entry;
    while ((entry = d->slot[s]) != 0 && entry >> 12 != key) s = (s + 1) & (SLOTS - 1);
    *free = s;
    return entry & 4095;
}

/* The codes of `indices` (minimum code size 8) into w->out, as giflib's encoder sequences
 * them: a clear code first; the code size grows once the next code needs it; a clear code
 * when the table reaches 4095 codes; the end code last.
 * With `alternates` (per pixel, an index or NONE), a pixel whose own index does not continue
 * the current string may continue it with its alternate: the decoder then draws the
 * alternate. The quantizer gives alternates only to colours (never to or as the transparent
 * index). */
static void lzw(Dictionary *d, BitWriter *w, const uint8_t *indices, Py_ssize_t n,
                const uint8_t *alternates) {
    const uint32_t clear = 256, end = 257;
    uint32_t next = end + 1;
    w->size = 9;
    memset(d->slot, 0, sizeof d->slot);
    put_code(w, clear);
    uint32_t prefix = indices[0];
    for (Py_ssize_t i = 1; i < n; i++) {
        uint32_t k = indices[i], free, unused;
        uint32_t found = find(d, prefix, k, &free);
        if (!found && alternates != NULL && alternates[i] != NONE) {
            /* a near colour that goes on the string */
            found = find(d, prefix, alternates[i], &unused);
        }
        if (found) {
            prefix = found;
            continue;
        }
        put_code(w, prefix);
        if (next >= (1u << w->size) && w->size < 12) w->size++;
        if (next >= LAST_CODE) {
            put_code(w, clear);
            memset(d->slot, 0, sizeof d->slot);
            next = end + 1;
            w->size = 9;
        } else {
            d->slot[free] = (prefix << 8 | k) << 12 | next;
            next++;
        }
        prefix = k;
    }
    put_code(w, prefix);
    if (next >= (1u << w->size) && w->size < 12) w->size++;
    put_code(w, end);
    if (w->count > 0) w->out[w->used++] = (uint8_t)w->bits;
}

static PyObject *encode(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"indices", "alternates", NULL};
    Py_buffer indices, alternates = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*|y*", keywords, &indices, &alternates)) {
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t n = indices.len;
    uint8_t *codes = NULL;
    Dictionary *dictionary = NULL;
    if (n == 0) {
        PyErr_SetString(PyExc_ValueError, "lzw: no pixels");
    } else if (alternates.buf != NULL && alternates.len != n) {
        PyErr_SetString(PyExc_ValueError, "lzw: alternates must be 1 byte per pixel");
    } else if ((dictionary = PyMem_RawMalloc(sizeof *dictionary)) == NULL ||
               /* at most one 12-bit code per pixel, plus clears, end, the writer's spare 8 */
               (codes = PyMem_RawMalloc(n + n / 2 + n / 1000 + 32)) == NULL) {
        PyErr_NoMemory();
    } else {
        BitWriter w = {codes, 0, 0, 0, 9};
        Py_BEGIN_ALLOW_THREADS
        lzw(dictionary, &w, indices.buf, n, alternates.buf);
        Py_END_ALLOW_THREADS
        /* §15 Data Sub-blocks: a count byte (1-255) before each run of bytes */
        Py_ssize_t blocks = (w.used + 254) / 255;
        result = PyBytes_FromStringAndSize(NULL, w.used + blocks);
        if (result != NULL) {
            uint8_t *dst = (uint8_t *)PyBytes_AS_STRING(result);
            for (Py_ssize_t at = 0; at < w.used; at += 255) {
                Py_ssize_t run = w.used - at < 255 ? w.used - at : 255;
                *dst++ = (uint8_t)run;
                memcpy(dst, codes + at, run);
                dst += run;
            }
        }
    }
    PyMem_RawFree(codes);
    PyMem_RawFree(dictionary);
    PyBuffer_Release(&indices);
    if (alternates.buf) PyBuffer_Release(&alternates);
    return result;
}

/* ---- what changed between two frames ---------------------------------------------- */

static PyObject *changes(PyObject *self, PyObject *args) {
    Py_buffer before, after;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "y*y*n", &before, &after, &width)) return NULL;
    PyObject *result = NULL;
    if (before.len != after.len || width <= 0 || after.len % width) {
        PyErr_SetString(PyExc_ValueError, "changes: two frames of the same width and size");
    } else {
        const uint8_t *a = before.buf, *b = after.buf;
        Py_ssize_t rows = after.len / width, count = 0;
        Py_ssize_t top = -1, bottom = -1, left = width, right = -1;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t y = 0; y < rows; y++) {
            const uint8_t *p = a + y * width, *q = b + y * width;
            Py_ssize_t here = 0, first = 0, last = width - 1;
            for (Py_ssize_t x = 0; x < width; x++) here += p[x] != q[x]; /* vectorised */
            if (here) {
                while (p[first] == q[first]) first++;
                while (p[last] == q[last]) last--;
                count += here;
                if (top < 0) top = y;
                bottom = y;
                if (first < left) left = first;
                if (last > right) right = last;
            }
        }
        Py_END_ALLOW_THREADS
        if (count == 0) {
            result = Py_NewRef(Py_None);
        } else {
            result = Py_BuildValue("nnnnn", count, top, bottom + 1, left, right + 1);
        }
    }
    PyBuffer_Release(&before);
    PyBuffer_Release(&after);
    return result;
}

/* out[x] = a[x] == b[x] ? same : pick[x], over one row (vectorised: no aliasing) */
static void select_row(uint8_t *restrict out, const uint8_t *restrict a,
                       const uint8_t *restrict b, const uint8_t *restrict pick, uint8_t same,
                       Py_ssize_t n) {
    for (Py_ssize_t x = 0; x < n; x++) {
        uint8_t keep = pick[x]; /* read unconditionally, or the loop is not vectorised */
        out[x] = a[x] == b[x] ? same : keep;
    }
}

/* The changed rectangle's pixels, unchanged ones (the same index in `before`) set to
 * `transparent`, and their alternates (NONE where unchanged): one pass, where numpy's
 * compare-and-select took two whole-window passes and two temporaries per array. */
static PyObject *cut(PyObject *self, PyObject *args) {
    Py_buffer before, after, out, alternates = {0}, near = {0};
    Py_ssize_t width, top, bottom, left, right;
    int transparent;
    if (!PyArg_ParseTuple(args, "y*y*n(nnnn)iw*|z*z*", &before, &after, &width, &top, &bottom,
                          &left, &right, &transparent, &out, &alternates, &near)) {
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t w = right - left, h = bottom - top;
    if (before.len != after.len || width <= 0 || after.len % width || top < 0 || left < 0 ||
        w <= 0 || h <= 0 || right > width || bottom > after.len / width) {
        PyErr_SetString(PyExc_ValueError, "cut: two frames of one size and a rectangle in them");
    } else if (out.len != w * h || (alternates.buf != NULL) != (near.buf != NULL) ||
               (alternates.buf != NULL && (alternates.len != after.len || near.len != w * h))) {
        PyErr_SetString(PyExc_ValueError, "cut: out (and near) hold the rectangle");
    } else if (near.buf != NULL && near.readonly) {
        PyErr_SetString(PyExc_ValueError, "cut: near must be writable");
    } else {
        const uint8_t *a = before.buf, *b = after.buf, *alt = alternates.buf;
        uint8_t *o = out.buf, *n = near.buf, t = (uint8_t)transparent;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t y = 0; y < h; y++) {
            Py_ssize_t at = (top + y) * width + left;
            const uint8_t *p = a + at, *q = b + at;
            select_row(o + y * w, p, q, q, t, w);
            if (n != NULL) select_row(n + y * w, p, q, alt + at, NONE, w);
        }
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&before);
    PyBuffer_Release(&after);
    PyBuffer_Release(&out);
    if (alternates.buf) PyBuffer_Release(&alternates);
    if (near.buf) PyBuffer_Release(&near);
    return result;
}

static PyMethodDef methods[] = {
    {"quantize", (PyCFunction)(void (*)(void))quantize, METH_VARARGS | METH_KEYWORDS,
     "quantize(frame, table, palette, out, alternates=None, tolerance=0): each pixel's nearest "
     "palette index into out (and its alternate into alternates), through the 7-bit colour "
     "table, filling the cells that hold 0xFFFF."},
    {"lzw", (PyCFunction)(void (*)(void))encode, METH_VARARGS | METH_KEYWORDS,
     "lzw(indices, alternates=None) -> bytes: GIF LZW "
     "image data (minimum code size 8) in sub-blocks, without the code size and terminator."},
    {"changes", changes, METH_VARARGS,
     "changes(before, after, width) -> (count, top, bottom, left, right) | None: how many "
     "pixels differ and the rectangle holding them (bottom and right exclusive)."},
    {"cut", cut, METH_VARARGS,
     "cut(before, after, width, (top, bottom, left, right), transparent, out, alternates=None, "
     "near=None): the rectangle of after into out, pixels equal in before as transparent, and "
     "the alternates into near (NONE where equal)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "render._gifcodec", NULL, -1, methods};

PyMODINIT_FUNC PyInit__gifcodec(void) { return PyModule_Create(&module); }

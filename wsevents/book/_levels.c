/* wsevents.book._levels: one side of an order book, compiled.
 *
 * An optional accelerator of wsevents/book/_book.py (built when a C compiler
 * is there; the pure-Python _PySide runs otherwise).  ``Side`` does what
 * _PySide does, with the same results and the same errors, but keeps its
 * levels as numbers in its own table instead of str-keyed dicts:
 *
 *   - an open-addressing hash table of entries keyed by the signed float
 *     price (bids negated): the price string the level is known by, its size
 *     as a double, and the venue's size string copied inline (or, when it is
 *     not a short ASCII str, the object itself);
 *   - a sorted array of the signed prices, best first, where a removed level
 *     stays, dead (size 0), until it comes back, reaches the head (where reads
 *     trim it) or dead keys outnumber live ones (then the array and the table
 *     are compacted).
 *
 * A level of a diff is found by parsing its price (no str hashing or
 * comparison), and its size string is copied, not kept: the decoded message
 * is freed as a plain handler's is.  What a level is (a live level's size
 * replaced or removed, a removed one back under the spelling it now has, a
 * new price, another spelling of a known price) and what is an error (a price
 * or size that is not a number, a negative or non-finite size, a non-finite
 * price) are decided exactly as _PySide decides them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Exact powers of ten: a double holds each of them exactly. */
static const double powers[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* The common spelling of a venue's price or size (ASCII digits with at most
 * one point, at most 15 digits) of an exact, compact ASCII str, parsed: its
 * digits make an integer below 2**53 and its power of ten is exact, so one
 * division gives the correctly rounded double, the very value float() gives.
 * Returns 0 when parsed, -1 (no exception set) for any other spelling. */
static int
parse_plain(PyObject *text, double *out)
{
    if (!PyUnicode_IS_COMPACT_ASCII(text)) {
        return -1;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    const char *c = (const char *)PyUnicode_DATA(text);
    if (length <= 0 || length > 16) {
        return -1;
    }
    int64_t digits = 0;
    int count = 0, scale = -1;
    for (Py_ssize_t j = 0; j < length; j++) {
        char ch = c[j];
        if (ch >= '0' && ch <= '9') {
            digits = digits * 10 + (ch - '0');
            count++;
        }
        else if (ch == '.' && scale < 0) {
            scale = (int)(length - j - 1);
        }
        else {
            return -1;
        }
    }
    if (count == 0 || count > 15) {
        return -1;
    }
    *out = (double)digits / powers[scale < 0 ? 0 : scale];
    return 0;
}

/* float(value) of anything: 0, or -1 with float()'s exception set. */
static int
parse_number(PyObject *value, double *out)
{
    if (PyUnicode_CheckExact(value) && parse_plain(value, out) == 0) {
        return 0;
    }
    if (PyFloat_CheckExact(value)) {
        *out = PyFloat_AS_DOUBLE(value);
        return 0;
    }
    PyObject *number = PyNumber_Float(value);
    if (number == NULL) {
        return -1;
    }
    *out = PyFloat_AS_DOUBLE(number);
    Py_DECREF(number);
    return 0;
}

/* The longest string kept inline (a price's name, a size as given). */
#define INLINE 15
/* ``namelen`` of a name that is not kept inline. */
#define NOT_INLINE 255
/* The size of a cache line: each entry is on one. */
#define LINE 64

typedef struct {
    double key;         /* the signed price, as first seen */
    double size;        /* > 0: live; 0: dead (removed, its key still in place) */
    PyObject *name;     /* the price string the level is known by; NULL: a free slot */
    PyObject *rawobj;   /* the size as given, when not kept inline (or NULL) */
    unsigned char namelen; /* the name's length when copied to ``nm``, else NOT_INLINE */
    char nm[INLINE];
    unsigned char rawlen;  /* the size string's length, copied to ``raw`` */
    char raw[INLINE];
} Entry;

typedef struct {
    PyObject_HEAD
    double sign;        /* +1.0 for asks (lowest first), -1.0 for bids (highest first) */
    Entry *table;       /* capacity a power of two, at most half full, in ``block`` */
    void *block;        /* the memory of ``table`` (aligned to a cache line within it) */
    Py_ssize_t mask;    /* capacity - 1 */
    int shift;          /* 64 - log2(capacity) */
    Py_ssize_t used;    /* entries in the table (live and dead) == count */
    Py_ssize_t live;    /* live levels */
    double *keys;       /* keys[start:start + count], ascending: best first */
    Py_ssize_t start, count, cap;
} Side;

/* A zeroed table of ``capacity`` entries starting on a cache line, or NULL
 * with MemoryError; ``*block`` is what to free. */
static Entry *
new_table(Py_ssize_t capacity, void **block)
{
    char *memory = PyMem_Calloc(1, (size_t)capacity * sizeof(Entry) + LINE);
    if (memory == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    *block = memory;
    uintptr_t at = (uintptr_t)memory;
    return (Entry *)(memory + ((LINE - at % LINE) % LINE));
}

/* Make ``text`` (a new reference given) the name of ``e``. */
static void
set_name(Entry *e, PyObject *text)
{
    e->name = text;
    e->namelen = NOT_INLINE;
    if (PyUnicode_IS_COMPACT_ASCII(text) && PyUnicode_GET_LENGTH(text) <= INLINE) {
        e->namelen = (unsigned char)PyUnicode_GET_LENGTH(text);
        memcpy(e->nm, PyUnicode_DATA(text), e->namelen);
    }
}

/* Fibonacci hashing: the top bits of the key's bits times 2**64 / phi. */
/* The module's state: its Side type (one per interpreter that imports it). */
typedef struct {
    PyTypeObject *side_type;
} State;

static size_t
home_of(double key, int shift)
{
    uint64_t bits;
    if (key == 0.0) {
        key = 0.0; /* -0.0 and 0.0 are one price */
    }
    memcpy(&bits, &key, sizeof bits);
    return (size_t)((bits * 0x9E3779B97F4A7C15ULL) >> shift);
}

/* The slot of ``key``, or -1. */
static Py_ssize_t
find(Side *self, double key)
{
    Py_ssize_t mask = self->mask;
    Entry *table = self->table;
    size_t i = home_of(key, self->shift);
    for (;;) {
        Entry *e = &table[i];
        if (e->name == NULL) {
            return -1;
        }
        if (e->key == key) {
            return (Py_ssize_t)i;
        }
        i = (i + 1) & (size_t)mask;
    }
}

/* The free slot where ``key`` goes (the table has room and no entry for it). */
static Py_ssize_t
free_slot(Entry *table, Py_ssize_t mask, int shift, double key)
{
    size_t i = home_of(key, shift);
    while (table[i].name != NULL) {
        i = (i + 1) & (size_t)mask;
    }
    return (Py_ssize_t)i;
}

/* Remove the entry at ``slot`` (linear probing: later entries shift back).
 * Its references are the caller's to release. */
static void
unlink_slot(Side *self, Py_ssize_t slot)
{
    Entry *table = self->table;
    size_t mask = (size_t)self->mask;
    size_t i = (size_t)slot, j = (size_t)slot;
    for (;;) {
        j = (j + 1) & mask;
        if (table[j].name == NULL) {
            break;
        }
        size_t home = home_of(table[j].key, self->shift);
        /* The entry at j stays unless its home is outside (i, j], cyclically. */
        int stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            table[i] = table[j];
            i = j;
        }
    }
    table[i].name = NULL;
    table[i].rawobj = NULL;
    self->used--;
}

/* A table of ``capacity`` slots holding the entries kept (those whose key is
 * in keys[start:start + count]); 0, or -1 with MemoryError. */
static int
rehash(Side *self, Py_ssize_t capacity)
{
    void *block;
    Entry *table = new_table(capacity, &block);
    if (table == NULL) {
        return -1;
    }
    int shift = 64;
    for (Py_ssize_t c = capacity; c > 1; c >>= 1) {
        shift--;
    }
    Entry *old = self->table;
    Py_ssize_t oldcap = self->mask + 1;
    for (Py_ssize_t i = 0; i < oldcap; i++) {
        if (old[i].name != NULL) {
            table[free_slot(table, capacity - 1, shift, old[i].key)] = old[i];
        }
    }
    PyMem_Free(self->block);
    self->block = block;
    self->table = table;
    self->mask = capacity - 1;
    self->shift = shift;
    return 0;
}

/* Room for one more entry in the table and one more key in the array. */
static int
reserve(Side *self)
{
    if ((self->used + 1) * 2 > self->mask + 1) {
        if (rehash(self, (self->mask + 1) * 2) < 0) {
            return -1;
        }
    }
    if (self->start + self->count == self->cap) {
        if (self->start > 0) {
            memmove(self->keys, self->keys + self->start, (size_t)self->count * sizeof(double));
            self->start = 0;
        }
        else {
            Py_ssize_t cap = self->cap * 2;
            double *keys = PyMem_Realloc(self->keys, (size_t)cap * sizeof(double));
            if (keys == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            self->keys = keys;
            self->cap = cap;
        }
    }
    return 0;
}

/* Set the entry's size (live) and its size as given; the replaced object, if
 * any, is returned for the caller to release once the side is consistent. */
static PyObject *
store_size(Entry *e, double amount, PyObject *size)
{
    PyObject *old = e->rawobj;
    e->size = amount;
    if (PyUnicode_CheckExact(size) && PyUnicode_IS_COMPACT_ASCII(size)
        && PyUnicode_GET_LENGTH(size) <= INLINE) {
        Py_ssize_t length = PyUnicode_GET_LENGTH(size);
        memcpy(e->raw, PyUnicode_DATA(size), (size_t)length);
        e->rawlen = (unsigned char)length;
        e->rawobj = NULL;
    }
    else {
        Py_INCREF(size);
        e->rawobj = size;
    }
    return old;
}

/* Drop every dead entry and key (in place). */
static void
compact(Side *self)
{
    double *keys = self->keys + self->start;
    Py_ssize_t kept = 0;
    for (Py_ssize_t k = 0; k < self->count; k++) {
        Py_ssize_t slot = find(self, keys[k]);
        Entry *e = &self->table[slot];
        if (e->size > 0.0) {
            keys[kept++] = keys[k];
            continue;
        }
        PyObject *name = e->name, *rawobj = e->rawobj;
        unlink_slot(self, slot);
        /* Only str names and no raw object: nothing user-defined runs here. */
        Py_DECREF(name);
        Py_XDECREF(rawobj);
    }
    self->count = kept;
}

/* The dead keys at the head dropped: keys[start] is the best live level, if any. */
static void
trim(Side *self)
{
    while (self->count > 0) {
        Py_ssize_t slot = find(self, self->keys[self->start]);
        Entry *e = &self->table[slot];
        if (e->size > 0.0) {
            return;
        }
        PyObject *name = e->name;
        unlink_slot(self, slot);
        Py_DECREF(name);
        self->start++;
        self->count--;
    }
    self->start = 0;
}

static PyObject *
bad_level(PyObject *level)
{
    PyObject *items = PySequence_List(level);
    if (items != NULL) {
        PyErr_Format(PyExc_ValueError, "bad level %R: negative or not finite", items);
        Py_DECREF(items);
    }
    return NULL;
}

/* Whether two str are equal (the same object, or the same characters). */
static int
same_text(PyObject *a, PyObject *b)
{
    if (a == b) {
        return 1;
    }
    if (PyUnicode_IS_COMPACT_ASCII(a) && PyUnicode_IS_COMPACT_ASCII(b)) {
        Py_ssize_t length = PyUnicode_GET_LENGTH(a);
        return length == PyUnicode_GET_LENGTH(b)
               && memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)length) == 0;
    }
    int equal = PyUnicode_Compare(a, b) == 0;
    PyErr_Clear(); /* two str: it cannot fail */
    return equal;
}

/* Whether ``text`` is the name of ``e`` (compared inline when it was copied). */
static int
same_name(Entry *e, PyObject *text)
{
    if (e->namelen != NOT_INLINE && PyUnicode_IS_COMPACT_ASCII(text)) {
        Py_ssize_t length = PyUnicode_GET_LENGTH(text);
        return length == e->namelen && memcmp(e->nm, PyUnicode_DATA(text), (size_t)length) == 0;
    }
    return same_text(e->name, text);
}

/* Apply one level, whose price may have been parsed already (``known``, the
 * price object parsed to ``known_value``, or NULL): 0 when no code but this
 * module's ran, 1 when a level's, price's or size's own code may have run (a
 * mapping, a non-str price or size, the release of a size kept as an object),
 * or -1 with an exception set. */
static int
apply_level(Side *self, PyObject *level, PyObject *known, double known_value)
{
    PyObject *price, *size;
    int foreign = 0;
    if ((PyList_CheckExact(level) || PyTuple_CheckExact(level))
        && PySequence_Fast_GET_SIZE(level) >= 2) {
        price = PySequence_Fast_GET_ITEM(level, 0);
        size = PySequence_Fast_GET_ITEM(level, 1);
        Py_INCREF(price);
        Py_INCREF(size);
    }
    else {
        /* level[0], level[1], as Python indexes (a mapping raises KeyError). */
        foreign = 1;
        PyObject *index = PyLong_FromLong(0);
        price = index == NULL ? NULL : PyObject_GetItem(level, index);
        Py_XDECREF(index);
        if (price == NULL) {
            return -1;
        }
        index = PyLong_FromLong(1);
        size = index == NULL ? NULL : PyObject_GetItem(level, index);
        Py_XDECREF(index);
        if (size == NULL) {
            Py_DECREF(price);
            return -1;
        }
    }
    int result = -1;
    PyObject *text = NULL, *release = NULL, *release_name = NULL;
    double key, amount;
    if (PyUnicode_CheckExact(price)) {
        text = price;
        Py_INCREF(text);
    }
    else {
        /* As _PySide: a non-str price is looked up (hashed) first, then read as str(). */
        foreign = 1;
        if (PyObject_Hash(price) == -1) {
            goto done;
        }
        text = PyObject_Str(price);
        if (text == NULL) {
            goto done;
        }
    }
    if (!PyUnicode_CheckExact(size)) {
        foreign = 1;
    }
    if (text == known) {
        key = known_value;
    }
    else if (parse_number(text, &key) < 0) {
        goto done;
    }
    if (parse_number(size, &amount) < 0) {
        goto done;
    }
    key *= self->sign;
    if (!isfinite(key) || amount != amount || amount < 0.0 || amount == HUGE_VAL) {
        bad_level(level);
        goto done;
    }
    /* From here on no user code runs until the side is consistent again. */
    Py_ssize_t slot = find(self, key);
    if (amount > 0.0) {
        if (slot < 0) {
            /* A new price, known from now on by this spelling. */
            if (self->count > 2 * self->live + 64) {
                compact(self);
            }
            if (reserve(self) < 0) {
                goto done;
            }
            Entry *e = &self->table[free_slot(self->table, self->mask, self->shift, key)];
            e->key = key;
            Py_INCREF(text);
            set_name(e, text);
            e->rawobj = NULL;
            store_size(e, amount, size);
            self->used++;
            self->live++;
            double *keys = self->keys + self->start;
            Py_ssize_t lo = 0, hi = self->count;
            while (lo < hi) {
                Py_ssize_t mid = (lo + hi) / 2;
                if (keys[mid] < key) {
                    lo = mid + 1;
                }
                else {
                    hi = mid;
                }
            }
            memmove(keys + lo + 1, keys + lo, (size_t)(self->count - lo) * sizeof(double));
            keys[lo] = key;
            self->count++;
        }
        else {
            Entry *e = &self->table[slot];
            if (e->size == 0.0) {
                /* A dead level back, known by this spelling now. */
                self->live++;
                if (!same_name(e, text)) {
                    release_name = e->name;
                    Py_INCREF(text);
                    set_name(e, text);
                }
            }
            release = store_size(e, amount, size);
        }
    }
    else if (slot >= 0) {
        Entry *e = &self->table[slot];
        if (e->size > 0.0) {
            /* A live level removed: its key stays in place, dead. */
            e->size = 0.0;
            release = e->rawobj;
            e->rawobj = NULL;
            self->live--;
        }
    }
    result = foreign;
    if (release != NULL && !PyUnicode_CheckExact(release)) {
        result = 1; /* its release may run its own code */
    }
done:
    Py_XDECREF(release);
    Py_XDECREF(release_name);
    Py_XDECREF(text);
    Py_DECREF(price);
    Py_DECREF(size);
    return result;
}

/* How many levels of one call have their price parsed ahead. */
#define AHEAD 64

/* Apply every level of ``updates``; 0, or -1 with an exception set.
 *
 * The table is larger than the cache: each level's entry is asked for (a
 * prefetch) while the prices are parsed ahead, and the parsed prices are used
 * for as long as no level's own code has run (which could change a level). */
static int
apply_all(Side *self, PyObject *updates)
{
    PyObject *levels = PySequence_Fast(updates, "levels must be iterable");
    if (levels == NULL) {
        return -1;
    }
    PyObject *known[AHEAD];
    double values[AHEAD];
    Py_ssize_t ahead = PySequence_Fast_GET_SIZE(levels);
    if (ahead > AHEAD) {
        ahead = AHEAD;
    }
    for (Py_ssize_t i = 0; i < ahead; i++) {
        PyObject *level = PySequence_Fast_GET_ITEM(levels, i);
        known[i] = NULL;
        if ((PyList_CheckExact(level) || PyTuple_CheckExact(level))
            && PySequence_Fast_GET_SIZE(level) >= 2) {
            PyObject *price = PySequence_Fast_GET_ITEM(level, 0);
            if (PyUnicode_CheckExact(price) && parse_plain(price, &values[i]) == 0) {
                known[i] = price;
#if defined(__GNUC__) || defined(__clang__)
                __builtin_prefetch(&self->table[home_of(values[i] * self->sign, self->shift)]);
#endif
            }
        }
    }
    /* The size is read again each turn: a level's own code may change the list. */
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(levels); i++) {
        PyObject *level = PySequence_Fast_GET_ITEM(levels, i);
        Py_INCREF(level);
        int done = i < ahead ? apply_level(self, level, known[i], values[i])
                             : apply_level(self, level, NULL, 0.0);
        Py_DECREF(level);
        if (done < 0) {
            Py_DECREF(levels);
            return -1;
        }
        if (done > 0) {
            ahead = 0; /* parsed prices may be stale from here on */
        }
    }
    Py_DECREF(levels);
    return 0;
}

static PyObject *
Side_apply(Side *self, PyObject *updates)
{
    if (apply_all(self, updates) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* apply_diff(bids_side, asks_side, bids, asks) -> whether the book is crossed
 * after applying ``bids`` to one side, then ``asks`` to the other. */
static PyObject *
levels_apply_diff(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "apply_diff() takes 4 arguments");
        return NULL;
    }
    PyTypeObject *side_type = ((State *)PyModule_GetState(module))->side_type;
    if (!PyObject_TypeCheck(args[0], side_type) || !PyObject_TypeCheck(args[1], side_type)) {
        PyErr_SetString(PyExc_TypeError, "apply_diff(): the sides must be Side objects");
        return NULL;
    }
    Side *bids = (Side *)args[0], *asks = (Side *)args[1];
    if (apply_all(bids, args[2]) < 0 || apply_all(asks, args[3]) < 0) {
        return NULL;
    }
    trim(bids);
    trim(asks);
    if (bids->count > 0 && asks->count > 0
        && -bids->keys[bids->start] >= asks->keys[asks->start]) {
        Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

static PyObject *
Side_clear(Side *self, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t capacity = self->mask + 1;
    Entry *table = self->table;
    void *old = self->block, *block;
    Entry *fresh = new_table(8, &block);
    if (fresh == NULL) {
        return NULL;
    }
    self->table = fresh;
    self->block = block;
    self->mask = 7;
    self->shift = 61;
    self->used = self->live = 0;
    self->start = self->count = 0;
    for (Py_ssize_t i = 0; i < capacity; i++) {
        Py_XDECREF(table[i].name);
        Py_XDECREF(table[i].rawobj);
    }
    PyMem_Free(old);
    Py_RETURN_NONE;
}

static PyObject *
Side_head(Side *self, PyObject *Py_UNUSED(ignored))
{
    trim(self);
    if (self->count == 0) {
        Py_RETURN_NONE;
    }
    return PyFloat_FromDouble(self->keys[self->start]);
}

/* How many live levels a read of ``depth`` returns (None: all; negative: as
 * the slice ``[:depth]`` of all), or -1 with an exception set. */
static Py_ssize_t
wanted(Side *self, PyObject *depth)
{
    if (depth == Py_None) {
        return self->live;
    }
    Py_ssize_t n = PyNumber_AsSsize_t(depth, NULL);
    if (n == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (n < 0) {
        n += self->live;
        return n < 0 ? 0 : n;
    }
    return n < self->live ? n : self->live;
}

/* What a read returns of a level: floats, the venue's strings, or (to pickle)
 * the size as it was given. */
enum { AS_FLOATS, AS_TEXT, AS_GIVEN };

/* The size as given (AS_GIVEN), or as raw() returns it (str(size) when it is
 * not a str). */
static PyObject *
size_of(Entry *e, int form)
{
    if (e->rawobj == NULL) {
        return PyUnicode_FromStringAndSize(e->raw, e->rawlen);
    }
    if (form == AS_GIVEN || PyUnicode_CheckExact(e->rawobj)) {
        Py_INCREF(e->rawobj);
        return e->rawobj;
    }
    return PyObject_Str(e->rawobj);
}

/* The best ``want`` live levels: ``(price, size)`` floats, ``(name, size)``
 * strings, or ``[name, size as given]`` lists. */
static PyObject *
collect(Side *self, Py_ssize_t want, int form)
{
    /* Entries are found first: size_of() may run a size's __str__. */
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t k = 0; k < self->count && PyList_GET_SIZE(out) < want; k++) {
        double key = self->keys[self->start + k];
        Entry *e = &self->table[find(self, key)];
        if (e->size == 0.0) {
            continue;
        }
        PyObject *item;
        if (form == AS_FLOATS) {
            item = Py_BuildValue("(dd)", self->sign * key, e->size);
        }
        else {
            PyObject *name = e->name;
            Py_INCREF(name);
            PyObject *size = size_of(e, form); /* e is not used after this */
            item = size == NULL ? NULL
                   : form == AS_TEXT ? PyTuple_Pack(2, name, size)
                   : Py_BuildValue("[OO]", name, size);
            Py_DECREF(name);
            Py_XDECREF(size);
        }
        if (item == NULL || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(item);
    }
    return out;
}

/* top(depth) / raw(depth): the best ``depth`` live levels. */
static PyObject *
levels(Side *self, PyObject *args, int form)
{
    PyObject *depth = Py_None;
    if (!PyArg_UnpackTuple(args, form == AS_TEXT ? "raw" : "top", 1, 1, &depth)) {
        return NULL;
    }
    trim(self);
    Py_ssize_t want = wanted(self, depth);
    if (want < 0) {
        return NULL;
    }
    return collect(self, want, form);
}

static PyObject *
Side_top(Side *self, PyObject *args)
{
    return levels(self, args, AS_FLOATS);
}

static PyObject *
Side_raw(Side *self, PyObject *args)
{
    return levels(self, args, AS_TEXT);
}

static PyObject *
Side_best(Side *self, PyObject *Py_UNUSED(ignored))
{
    trim(self);
    if (self->count == 0) {
        Py_RETURN_NONE;
    }
    double key = self->keys[self->start];
    Entry *e = &self->table[find(self, key)];
    return Py_BuildValue("(dd)", self->sign * key, e->size);
}

static PyObject *
Side_in_place(Side *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *out = PyList_New(self->count);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t k = 0; k < self->count; k++) {
        PyObject *key = PyFloat_FromDouble(self->keys[self->start + k]);
        if (key == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, k, key);
    }
    return out;
}

/* Pickled (and copied) through wsevents.book._book._restore_side, which makes
 * the side this install has: the pickle loads with or without the extension. */
static PyObject *
Side_reduce(Side *self, PyObject *Py_UNUSED(ignored))
{
    /* The live levels as [name, size as given] lists (a removed level is not one). */
    PyObject *levels = collect(self, self->live, AS_GIVEN);
    if (levels == NULL) {
        return NULL;
    }
    PyObject *book = PyImport_ImportModule("wsevents.book._book");
    PyObject *restore = book == NULL ? NULL : PyObject_GetAttrString(book, "_restore_side");
    Py_XDECREF(book);
    if (restore == NULL) {
        Py_DECREF(levels);
        return NULL;
    }
    return Py_BuildValue("N(dN)", restore, self->sign, levels);
}

static Py_ssize_t
Side_len(Side *self)
{
    return self->live;
}

static int
Side_init(Side *self, PyObject *args, PyObject *kwds)
{
    double sign;
    if (kwds != NULL && PyDict_GET_SIZE(kwds) != 0) {
        PyErr_SetString(PyExc_TypeError, "Side() takes no keyword arguments");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "d:Side", &sign)) {
        return -1;
    }
    if (sign != 1.0 && sign != -1.0) {
        PyErr_SetString(PyExc_ValueError, "Side(sign): sign must be 1.0 or -1.0");
        return -1;
    }
    self->sign = sign;
    return 0;
}

static PyObject *
Side_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Side *self = (Side *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->sign = 1.0;
    self->keys = PyMem_Malloc((size_t)16 * sizeof(double));
    if (self->keys == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->table = new_table(8, &self->block);
    if (self->table == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->mask = 7;
    self->shift = 61;
    self->cap = 16;
    return (PyObject *)self;
}

static int
Side_traverse(Side *self, visitproc visit, void *arg)
{
    /* Names are str; a size kept as an object may be anything. */
    if (self->table != NULL) {
        for (Py_ssize_t i = 0; i <= self->mask; i++) {
            Py_VISIT(self->table[i].rawobj);
        }
    }
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int
Side_clear_refs(Side *self)
{
    if (self->table != NULL) {
        for (Py_ssize_t i = 0; i <= self->mask; i++) {
            Py_CLEAR(self->table[i].rawobj);
        }
    }
    return 0;
}

static void
Side_dealloc(Side *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->table != NULL) {
        for (Py_ssize_t i = 0; i <= self->mask; i++) {
            Py_XDECREF(self->table[i].name);
            Py_XDECREF(self->table[i].rawobj);
        }
        PyMem_Free(self->block);
    }
    PyMem_Free(self->keys);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyMethodDef Side_methods[] = {
    {"apply", (PyCFunction)Side_apply, METH_O,
     "apply(updates): set each level's size; a zero size removes the level"},
    {"clear", (PyCFunction)Side_clear, METH_NOARGS, "clear(): remove every level"},
    {"head", (PyCFunction)Side_head, METH_NOARGS,
     "head() -> the best live signed price, or None"},
    {"top", (PyCFunction)Side_top, METH_VARARGS,
     "top(depth) -> the best depth levels as (price, size) floats"},
    {"raw", (PyCFunction)Side_raw, METH_VARARGS,
     "raw(depth) -> the best depth levels as the venue's (price, size) strings"},
    {"best", (PyCFunction)Side_best, METH_NOARGS, "best() -> (price, size) or None"},
    {"__reduce__", (PyCFunction)Side_reduce, METH_NOARGS, "pickle and copy support"},
    {"in_place", (PyCFunction)Side_in_place, METH_NOARGS,
     "in_place() -> the signed prices in place, live and dead, best first"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Side_slots[] = {
    {Py_tp_doc, "One side of an order book: Side(sign), sign -1.0 for bids, 1.0 for asks."},
    {Py_tp_new, Side_new},
    {Py_tp_init, Side_init},
    {Py_tp_dealloc, Side_dealloc},
    {Py_tp_traverse, Side_traverse},
    {Py_tp_clear, Side_clear_refs},
    {Py_tp_methods, Side_methods},
    {Py_sq_length, Side_len},
    {Py_mp_length, Side_len},
    {0, NULL},
};

static PyType_Spec Side_spec = {
    "wsevents.book._levels.Side",
    sizeof(Side),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    Side_slots,
};

static int
levels_exec(PyObject *module)
{
    PyObject *type = PyType_FromModuleAndSpec(module, &Side_spec, NULL);
    if (type == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "Side", type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    ((State *)PyModule_GetState(module))->side_type = (PyTypeObject *)type; /* owned */
    PyObject *names = Py_BuildValue("[ss]", "Side", "apply_diff");
    if (names == NULL) {
        return -1;
    }
    if (PyModule_AddObject(module, "__all__", names) < 0) {
        Py_DECREF(names);
        return -1;
    }
    return 0;
}

static PyMethodDef levels_methods[] = {
    {"apply_diff", (PyCFunction)(void (*)(void))levels_apply_diff, METH_FASTCALL,
     "apply_diff(bids_side, asks_side, bids, asks) -> whether the book is crossed"},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot levels_slots[] = {
    {Py_mod_exec, levels_exec},
    {0, NULL},
};

static int
levels_traverse(PyObject *module, visitproc visit, void *arg)
{
    State *state = PyModule_GetState(module);
    if (state != NULL) {
        Py_VISIT(state->side_type);
    }
    return 0;
}

static int
levels_clear(PyObject *module)
{
    State *state = PyModule_GetState(module);
    if (state != NULL) {
        Py_CLEAR(state->side_type);
    }
    return 0;
}

static void
levels_free(void *module)
{
    levels_clear((PyObject *)module);
}

static struct PyModuleDef levels_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wsevents.book._levels",
    .m_doc = "One side of an order book, compiled (see _book.py).",
    .m_size = sizeof(State),
    .m_methods = levels_methods,
    .m_slots = levels_slots,
    .m_traverse = levels_traverse,
    .m_clear = levels_clear,
    .m_free = levels_free,
};

PyMODINIT_FUNC
PyInit__levels(void)
{
    return PyModuleDef_Init(&levels_module);
}

/* wsevents.book._levels: the level loop of an order book's side, compiled.
 *
 * An optional accelerator of wsevents/book/_book.py (built when a C compiler
 * is there; the pure-Python loop runs otherwise).  It does exactly what
 * _Side.apply_each does for the common levels, and nothing else:
 *
 *   - a level whose price string is a live level: a positive finite size
 *     replaces it, a zero size removes it;
 *   - a level whose price is a removed ("dead") level, with a positive finite
 *     size: the level is live again, known by this spelling;
 *   - a zero size for a price that is not live (removed, or never seen):
 *     nothing to do.
 *
 * Anything else (a new price, another spelling of a live price, a bad price or
 * size, a level that is not a list or tuple of two or more fields, a price or
 * size of another type than str) stops the loop and returns
 * the index of that level: the caller applies it in Python (which raises what
 * the pure loop raises) and calls again from the next one.  No user code runs
 * here: only exact str keys are hashed and compared.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

/* Exact powers of ten: a double holds each of them exactly. */
static const double powers[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* float(text) of an exact str, or -1 with no exception set when it is not a number.
 *
 * The common spelling of a venue's price or size (ASCII digits with at most one
 * point, at most 15 digits) is parsed here: its digits make an integer below
 * 2**53 and its power of ten is exact, so one division gives the correctly
 * rounded double, the very value float() gives.  Any other spelling (a sign,
 * an exponent, spaces, underscores, more digits) goes through float() itself.
 */
static int
parse(PyObject *text, double *out)
{
    if (PyUnicode_IS_COMPACT_ASCII(text)) {
        Py_ssize_t length = PyUnicode_GET_LENGTH(text);
        const char *c = (const char *)PyUnicode_DATA(text);
        if (length > 0 && length <= 16) {
            int64_t digits = 0;
            int count = 0, scale = -1;
            Py_ssize_t j;
            for (j = 0; j < length; j++) {
                char ch = c[j];
                if (ch >= '0' && ch <= '9') {
                    digits = digits * 10 + (ch - '0');
                    count++;
                }
                else if (ch == '.' && scale < 0) {
                    scale = (int)(length - j - 1);
                }
                else {
                    break;
                }
            }
            if (j == length && count > 0 && count <= 15) {
                *out = (double)digits / powers[scale < 0 ? 0 : scale];
                return 0;
            }
        }
    }
    PyObject *number = PyFloat_FromString(text);
    if (number == NULL) {
        PyErr_Clear();
        return -1;
    }
    *out = PyFloat_AS_DOUBLE(number);
    Py_DECREF(number);
    return 0;
}

/* What a price not live under its own spelling is, found by its float key. */
enum { UNPARSED, UNKNOWN, DEAD, LIVE };

/* Find the level of ``price`` by its signed float key: UNPARSED (not a plain
 * finite number), UNKNOWN (never seen), DEAD (removed) or LIVE (under another
 * spelling); -1 with an exception set on failure.  ``*key`` receives a new
 * reference to the key (NULL for UNPARSED). */
static int
lookup_key(PyObject *names, PyObject *sizes, double sign, PyObject *price, PyObject **key)
{
    double value;
    *key = NULL;
    if (parse(price, &value) < 0) {
        return UNPARSED;
    }
    value *= sign;
    if (!isfinite(value)) {
        return UNPARSED;
    }
    *key = PyFloat_FromDouble(value);
    if (*key == NULL) {
        return -1;
    }
    PyObject *name = PyDict_GetItemWithError(names, *key); /* borrowed */
    if (name == NULL) {
        if (PyErr_Occurred()) {
            Py_CLEAR(*key);
            return -1;
        }
        return UNKNOWN;
    }
    int live = PyDict_Contains(sizes, name);
    if (live < 0) {
        Py_CLEAR(*key);
        return -1;
    }
    return live ? LIVE : DEAD;
}

/* lookup_key without the key. */
static int
lookup(PyObject *names, PyObject *sizes, double sign, PyObject *price)
{
    PyObject *key = NULL;
    int found = lookup_key(names, sizes, sign, price, &key);
    Py_XDECREF(key);
    return found;
}

/* apply(sizes, names, sign, levels, start) -> the index of the first level not applied */
static PyObject *
levels_apply(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "apply() takes 5 arguments");
        return NULL;
    }
    PyObject *sizes = args[0], *names = args[1], *levels = args[3];
    if (!PyDict_CheckExact(sizes) || !PyDict_CheckExact(names)) {
        PyErr_SetString(PyExc_TypeError, "apply(): sizes and names must be dicts");
        return NULL;
    }
    if (!PyList_CheckExact(levels) && !PyTuple_CheckExact(levels)) {
        PyErr_SetString(PyExc_TypeError, "apply(): levels must be a list or a tuple");
        return NULL;
    }
    double sign = PyFloat_AsDouble(args[2]);
    if (sign == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t i = PyLong_AsSsize_t(args[4]);
    if (i == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (i < 0) {
        i = 0;
    }
    /* No user code runs in the loop, so ``levels`` cannot change under it. */
    for (; i < PySequence_Fast_GET_SIZE(levels); i++) {
        PyObject *level = PySequence_Fast_GET_ITEM(levels, i);
        if (!(PyList_CheckExact(level) || PyTuple_CheckExact(level))
            || PySequence_Fast_GET_SIZE(level) < 2) {
            break;
        }
        PyObject *price = PySequence_Fast_GET_ITEM(level, 0);
        PyObject *size = PySequence_Fast_GET_ITEM(level, 1);
        if (!PyUnicode_CheckExact(price) || !PyUnicode_CheckExact(size)) {
            break;
        }
        double amount;
        if (parse(size, &amount) < 0) {
            break;
        }
        if (amount > 0.0 && amount < HUGE_VAL) {
            /* One lookup for a live level: store, and undo if it was not one. */
            Py_ssize_t before = PyDict_GET_SIZE(sizes);
            if (PyDict_SetItem(sizes, price, size) < 0) {
                return NULL;
            }
            if (PyDict_GET_SIZE(sizes) == before) {
                continue; /* a live level's size replaced */
            }
            if (PyDict_DelItem(sizes, price) < 0) {
                return NULL;
            }
        }
        else if (amount == 0.0) {
            if (PyDict_DelItem(sizes, price) == 0) {
                continue; /* a live level removed */
            }
            if (!PyErr_ExceptionMatches(PyExc_KeyError)) {
                return NULL;
            }
            PyErr_Clear();
            /* Not live under this spelling: nothing to remove, unless another
             * spelling of the price is live (left to Python). */
            int found = lookup(names, sizes, sign, price);
            if (found < 0) {
                return NULL;
            }
            if (found == LIVE || found == UNPARSED) {
                break;
            }
            continue; /* a removed level, or a price never seen */
        }
        else {
            break;
        }
        /* Not a live level: a dead one back (by its float key), or a new one. */
        PyObject *key = NULL;
        int found = lookup_key(names, sizes, sign, price, &key);
        if (found < 0) {
            return NULL;
        }
        if (found != DEAD) {
            Py_XDECREF(key);
            break; /* a new price, another spelling of a live one, or not a number */
        }
        int failed = PyDict_SetItem(names, key, price) < 0;
        Py_DECREF(key);
        if (failed || PyDict_SetItem(sizes, price, size) < 0) {
            return NULL;
        }
    }
    return PyLong_FromSsize_t(i);
}

static PyMethodDef levels_methods[] = {
    {"apply", (PyCFunction)(void (*)(void))levels_apply, METH_FASTCALL,
     "apply(sizes, names, sign, levels, start) -> index of the first level not applied"},
    {NULL, NULL, 0, NULL},
};

static int
levels_exec(PyObject *module)
{
    PyObject *names = Py_BuildValue("[s]", "apply");
    if (names == NULL) {
        return -1;
    }
    if (PyModule_AddObject(module, "__all__", names) < 0) {
        Py_DECREF(names);
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot levels_slots[] = {
    {Py_mod_exec, levels_exec},
    {0, NULL},
};

static struct PyModuleDef levels_module = {
    PyModuleDef_HEAD_INIT,
    "wsevents.book._levels",
    "The level loop of an order book's side, compiled (see _book.py).",
    0,
    levels_methods,
    levels_slots,
};

PyMODINIT_FUNC
PyInit__levels(void)
{
    return PyModuleDef_Init(&levels_module);
}

/* Self-test extension for the musl stand-in images. It links libz (on the musllinux policy's list: stays an
 * external dependency, as on Alpine) and libffi (not on it: `auditwheel repair` has to graft it into the
 * wheel), and calls libm through libffi. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <ffi.h>
#include <math.h>
#include <zlib.h>

static PyObject *crc32_of(PyObject *self, PyObject *args) {
    const char *data;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "y#", &data, &size)) {
        return NULL;
    }
    return PyLong_FromUnsignedLong(crc32(0L, (const Bytef *)data, (uInt)size));
}

/* hypot(x, y) from libm, called through ffi_call. */
static PyObject *ffi_hypot(PyObject *self, PyObject *args) {
    double x, y, result = 0.0;
    ffi_cif cif;
    ffi_type *types[2] = {&ffi_type_double, &ffi_type_double};
    void *values[2] = {&x, &y};
    if (!PyArg_ParseTuple(args, "dd", &x, &y)) {
        return NULL;
    }
    if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 2, &ffi_type_double, types) != FFI_OK) {
        PyErr_SetString(PyExc_RuntimeError, "ffi_prep_cif failed");
        return NULL;
    }
    ffi_call(&cif, FFI_FN(hypot), &result, values);
    return PyFloat_FromDouble(result);
}

static PyObject *libz_version(PyObject *self, PyObject *unused) {
    return PyUnicode_FromString(zlibVersion());
}

static PyMethodDef methods[] = {
    {"crc32", crc32_of, METH_VARARGS, "CRC-32 of bytes, computed by the linked libz."},
    {"ffi_hypot", ffi_hypot, METH_VARARGS, "hypot(x, y) from libm, called through libffi."},
    {"zlib_version", libz_version, METH_NOARGS, "Version string of the libz loaded at run time."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "tinyext", NULL, -1, methods};

PyMODINIT_FUNC PyInit_tinyext(void) { return PyModule_Create(&module); }

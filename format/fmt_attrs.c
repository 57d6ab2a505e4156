/* fmt_attrs.c - reading and checking single-value attributes of a trace
 * file: integers of any integer type, floats (integers accepted), strings
 * fixed or variable length, ASCII or UTF-8. Owner: the format module.
 * Used by fmt_reader.c; every error names the file and the attribute. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt_internal.h"

/* Open attribute name of loc and check its class and that it holds one value.
 * Returns 1 when present and fine (*attr open), 0 when absent and optional,
 * -1 on error. where: the object's path ("" for the root group). */
static int open_attr(const char *path, hid_t loc, const char *where, dxt_name name, int required,
                     H5T_class_t want, H5T_class_t also, hid_t *attr, dxt_error *err)
{
    const char *aname = dxt_name_str(name);
    const char *sep = where[0] ? "/" : "";
    hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID;
    int rc = -1;
    *attr = H5I_INVALID_HID;
    htri_t exists = H5Aexists(loc, aname);
    if (exists < 0) {
        dxt_fail(err, "%s: attribute '%s%s%s' unreadable", path, where, sep, aname);
        goto fail;
    }
    if (!exists) {
        if (required)
            dxt_fail(err, "%s: attribute '%s%s%s' missing", path, where, sep, aname);
        return required ? -1 : 0;
    }
    if ((*attr = H5Aopen(loc, aname, H5P_DEFAULT)) < 0 || (type = H5Aget_type(*attr)) < 0 ||
        (space = H5Aget_space(*attr)) < 0) {
        dxt_fail(err, "%s: attribute '%s%s%s' unreadable", path, where, sep, aname);
        goto fail;
    }
    H5T_class_t cls = H5Tget_class(type);
    if (cls != want && cls != also) {
        dxt_fail(err, "%s: attribute '%s%s%s' has the wrong type (want %s)", path, where, sep,
                 aname,
                 want == H5T_STRING ? "string" : want == H5T_INTEGER ? "integer" : "float");
        goto fail;
    }
    if (H5Sget_simple_extent_npoints(space) != 1) {
        dxt_fail(err, "%s: attribute '%s%s%s' is not a single value", path, where, sep, aname);
        goto fail;
    }
    rc = 1;
fail:
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    if (rc < 0 && *attr >= 0) {
        H5Aclose(*attr);
        *attr = H5I_INVALID_HID;
    }
    return rc;
}

int dxt_read_int_attr(const char *path, hid_t loc, const char *where, dxt_name name, int required,
                      int64_t *out, dxt_error *err)
{
    hid_t attr;
    int rc = open_attr(path, loc, where, name, required, H5T_INTEGER, H5T_INTEGER, &attr, err);
    if (rc <= 0)
        return rc;
    if (H5Aread(attr, H5T_NATIVE_INT64, out) < 0)
        rc = dxt_fail(err, "%s: attribute '%s%s%s' cannot be read as a 64-bit integer", path, where,
                      where[0] ? "/" : "", dxt_name_str(name));
    H5Aclose(attr);
    return rc;
}

int dxt_read_float_attr(const char *path, hid_t loc, const char *where, dxt_name name,
                        int required, double *out, dxt_error *err)
{
    hid_t attr;
    int rc = open_attr(path, loc, where, name, required, H5T_FLOAT, H5T_INTEGER, &attr, err);
    if (rc <= 0)
        return rc;
    if (H5Aread(attr, H5T_NATIVE_DOUBLE, out) < 0)
        rc = dxt_fail(err, "%s: attribute '%s%s%s' cannot be read as a float", path, where,
                      where[0] ? "/" : "", dxt_name_str(name));
    H5Aclose(attr);
    return rc;
}

/* Read a string attribute (already checked) into buf, truncated to cap - 1. */
static int read_string_value(hid_t attr, char *buf, size_t cap)
{
    hid_t ftype = H5Aget_type(attr), mtype = H5Tcopy(H5T_C_S1);
    char *value = NULL;
    int rc = -1, is_vlen = ftype >= 0 ? H5Tis_variable_str(ftype) : -1;
    size_t size = ftype >= 0 ? H5Tget_size(ftype) : 0;
    if (ftype < 0 || mtype < 0 || is_vlen < 0 || H5Tset_cset(mtype, H5Tget_cset(ftype)) < 0)
        goto fail;
    if (is_vlen) {
        if (H5Tset_size(mtype, H5T_VARIABLE) < 0 || H5Aread(attr, mtype, &value) < 0)
            goto fail;
        snprintf(buf, cap, "%s", value ? value : "");
        H5free_memory(value);
        value = NULL;
    } else {
        if (size == 0 || size > DXT_STR_ATTR_MAX_BYTES || H5Tset_size(mtype, size) < 0 ||
            H5Tset_strpad(mtype, H5Tget_strpad(ftype)) < 0 || !(value = calloc(1, size + 1)) ||
            H5Aread(attr, mtype, value) < 0)
            goto fail;
        size_t len = strlen(value);
        while (len > 0 && value[len - 1] == ' ' && H5Tget_strpad(ftype) == H5T_STR_SPACEPAD)
            value[--len] = '\0';
        snprintf(buf, cap, "%s", value);
    }
    rc = 0;
fail:
    free(value);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (mtype >= 0)
        H5Tclose(mtype);
    return rc;
}

int dxt_read_str_attr(const char *path, hid_t loc, const char *where, dxt_name name, int required,
                      char *buf, size_t cap, dxt_error *err)
{
    hid_t attr;
    int rc = open_attr(path, loc, where, name, required, H5T_STRING, H5T_STRING, &attr, err);
    if (rc <= 0)
        return rc;
    if (read_string_value(attr, buf, cap) < 0)
        rc = dxt_fail(err, "%s: attribute '%s%s%s' cannot be read as a string", path, where,
                      where[0] ? "/" : "", dxt_name_str(name));
    H5Aclose(attr);
    return rc;
}

# shmtab_warn.m4 - probe compiler flags one at a time
#
# SHMTAB_CHECK_CFLAG(FLAG, VARIABLE)
# -----------------------------------
# Append FLAG to VARIABLE (which is AC_SUBSTed by the caller) if the C
# compiler accepts it without a diagnostic.  The probe compiles with
# -Werror so that a flag the compiler merely warns about is rejected too.
# For -Wno-FOO, the positive -WFOO is probed instead, since GCC accepts
# any unknown -Wno-FOO silently.
AC_DEFUN([SHMTAB_CHECK_CFLAG], [
	AS_VAR_PUSHDEF([shmtab_cv], [shmtab_cv_cflag_$1])
	AC_CACHE_CHECK([whether $CC accepts $1], [shmtab_cv], [
		shmtab_save_CFLAGS=$CFLAGS
		shmtab_probe=`AS_ECHO(["$1"]) | sed 's/^-Wno-/-W/'`
		CFLAGS="$CFLAGS -Werror $shmtab_probe"
		AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
			[AS_VAR_SET([shmtab_cv], [yes])],
			[AS_VAR_SET([shmtab_cv], [no])])
		CFLAGS=$shmtab_save_CFLAGS
	])
	AS_VAR_IF([shmtab_cv], [yes], [$2="$$2 $1"])
	AS_VAR_POPDEF([shmtab_cv])
])

# SHMTAB_CHECK_CFLAGS(FLAG..., VARIABLE)
# --------------------------------------
# SHMTAB_CHECK_CFLAG for each flag of a whitespace-separated list.
AC_DEFUN([SHMTAB_CHECK_CFLAGS], [
	m4_foreach_w([shmtab_flag], [$1],
		[SHMTAB_CHECK_CFLAG(m4_defn([shmtab_flag]), [$2])])
])

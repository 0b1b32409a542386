#!/bin/sh
# pitrd container entrypoint (POSIX sh).
#
#   (no arguments)           -> pitrd serve
#   a pitrd command/options  -> pitrd <command> ...   (e.g. `config check`, `token create ...`)
#   pitrd ...                -> the same, the leading "pitrd" is dropped
#   an executable on PATH    -> exec'd as is         (e.g. `sh`, `psql ...`, `pg_basebackup ...`)
#
# Before any pitrd command other than `config`, `help` and --help/--version, the configuration is
# checked with `pitrd config check --offline` (no server is asked for its version); if it is
# invalid the container exits non-zero with pitrd's message (which names every bad key), instead
# of a daemon dying later with a half-read config.
#
# The final step is always `exec`: the shell is replaced, so the daemon receives the signals the
# container runtime sends (the image's init, tini, forwards them and reaps children).
#
# PITRD_COMMANDS lists pitrd's commands exactly (test/integration/docker-entrypoint.test.ts
# compares it with `pitrd --help`): any other first word is a program to run.
set -eu

prog=${0##*/}
PITRD_COMMANDS='config token serve backup restore wal-fetch events drill info check verify expire wal repo demo help'
die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 64
}

# An executable file named $1 in PATH (shell builtins do not count: `echo` must find /bin/echo,
# and a pitrd command name must never be taken for a shell builtin).
find_executable() {
	case $1 in
	*/*)
		[ -f "$1" ] && [ -x "$1" ] && return 0
		return 1
		;;
	esac
	old_ifs=$IFS
	IFS=:
	for dir in $PATH; do
		[ -n "$dir" ] || dir=.
		if [ -f "$dir/$1" ] && [ -x "$dir/$1" ]; then
			IFS=$old_ifs
			return 0
		fi
	done
	IFS=$old_ifs
	return 1
}

# --- what to run ----------------------------------------------------------------------------
if [ "$#" -eq 0 ]; then
	set -- serve
elif [ "$1" = pitrd ]; then
	shift
	[ "$#" -gt 0 ] || set -- serve
elif [ "$1" = -- ]; then
	shift
	[ "$#" -gt 0 ] || die 'nothing to run after "--"'
	exec "$@"
else
	case $1 in
	-*) ;; # pitrd's own options: -c FILE, --help, --version
	*)
		# Not a pitrd command name? Then something else the user wants to run in the image.
		is_command=
		for c in $PITRD_COMMANDS; do
			[ "$1" = "$c" ] && is_command=1
		done
		if [ -z "$is_command" ] && find_executable "$1"; then exec "$@"; fi
		;;
	esac
fi

command -v pitrd >/dev/null 2>&1 || die 'the pitrd executable is not on PATH'

# --- which configuration --------------------------------------------------------------------
# -c/--config on the command line wins, then PITRD_CONFIG, then the image's default file if one
# is mounted there; with none of them pitrd runs from PITRD_* variables and built-in defaults.
cli_config=
expect_value=
skip_value=
command_name=
for arg in "$@"; do
	if [ -n "$expect_value" ]; then
		cli_config=$arg
		expect_value=
		continue
	fi
	if [ -n "$skip_value" ]; then
		skip_value=
		continue
	fi
	case $arg in
	-c | --config) expect_value=1 ;;
	--log-level) skip_value=1 ;; # a global option with a value: the value is not the command
	--config=*) cli_config=${arg#--config=} ;;
	-c?*) cli_config=${arg#-c} ;;
	-h | --help | -V | --version) command_name=help && break ;;
	-*) ;;
	*)
		# Options after the command name belong to the command.
		command_name=$arg
		break
		;;
	esac
done
[ -z "$expect_value" ] || die 'option -c/--config needs a file name'

default_config=${PITRD_DEFAULT_CONFIG:-/etc/pitrd/pitrd.yaml}
if [ -n "$cli_config" ]; then
	config_file=$cli_config
	config_from='-c/--config'
elif [ -n "${PITRD_CONFIG:-}" ]; then
	config_file=$PITRD_CONFIG
	config_from=PITRD_CONFIG
elif [ -f "$default_config" ]; then
	config_file=$default_config
	config_from='the default location'
	PITRD_CONFIG=$default_config
	export PITRD_CONFIG
else
	config_file=
	config_from=
fi

if [ -n "$config_file" ]; then
	[ -e "$config_file" ] || die "configuration file \"$config_file\" (from $config_from) does not exist; mount it or unset PITRD_CONFIG to configure with PITRD_* variables only"
	[ -f "$config_file" ] || die "configuration file \"$config_file\" (from $config_from) is not a regular file"
	[ -r "$config_file" ] || die "configuration file \"$config_file\" (from $config_from) is not readable by uid $(id -u)"
else
	# Environment-only configuration. pitrd's built-in defaults put the repository and spool
	# under ./pitrd-data; in the image they belong on the declared volumes.
	found=
	for name in $(env | sed -n 's/^\(PITRD_[A-Za-z0-9_]*\)=.*/\1/p'); do
		case $name in
		PITRD_*__* | PITRD_ENCRYPTION_KEY | PITRD_SPOOL_DIR | PITRD_COMPRESSION | PITRD_API_HOST | PITRD_API_PORT) found=1 ;;
		esac
	done
	[ -n "$found" ] || printf '%s: no configuration file (set PITRD_CONFIG or mount %s) and no PITRD_* settings: using built-in defaults\n' "$prog" "$default_config" >&2
	if [ -n "${PITRD_DATA_DIR:-}" ]; then
		# Set by the image: a container is reached from outside, loopback would be useless.
		: "${PITRD_API_HOST:=0.0.0.0}"
		export PITRD_API_HOST
		: "${PITRD_SPOOL_DIR:=$PITRD_DATA_DIR/spool}"
		if [ -z "${PITRD_STORAGE__TYPE:-}" ]; then
			PITRD_STORAGE__TYPE=fs
			: "${PITRD_STORAGE__PATH:=$PITRD_DATA_DIR/repository}"
			export PITRD_STORAGE__TYPE PITRD_STORAGE__PATH
		fi
		export PITRD_SPOOL_DIR
	fi
fi

# --- check, then run -------------------------------------------------------------------------
case $command_name in
config | help | '') ;; # they report on the configuration themselves (or only print usage)
*)
	status=0
	if [ -n "$cli_config" ]; then
		check_out=$(pitrd -c "$cli_config" config check --offline 2>&1) || status=$?
	else
		check_out=$(pitrd config check --offline 2>&1) || status=$?
	fi
	if [ "$status" -ne 0 ]; then
		printf '%s\n' "$check_out" >&2
		printf '%s: configuration check failed; not starting "pitrd %s"\n' "$prog" "$command_name" >&2
		exit "$status"
	fi
	;;
esac

exec pitrd "$@"

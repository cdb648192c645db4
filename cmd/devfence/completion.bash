# bash completion for @NAME@, printed by `@NAME@ completion bash`.
#
#   source <(@NAME@ completion bash)                            # this shell
#   @NAME@ completion bash > /etc/bash_completion.d/@NAME@     # every shell
#
# It holds the commands and flags of the @NAME@ that printed it (print it
# again after an upgrade) and never runs @NAME@ while completing. It needs
# bash 4 or later, and not the bash-completion package.

# _@NAME@_files offers directories and the files matching the globs (all
# files when none is given).
_@NAME@_files() {
	local IFS=$'\n' glob
	compopt -o filenames 2>/dev/null
	if (($# == 0)); then
		COMPREPLY+=($(compgen -f -- "$cur"))
		return
	fi
	COMPREPLY+=($(compgen -d -- "$cur"))
	for glob in "$@"; do
		COMPREPLY+=($(compgen -f -X "!$glob" -- "$cur"))
	done
}

_@NAME@_dirs() {
	local IFS=$'\n'
	compopt -o filenames 2>/dev/null
	COMPREPLY+=($(compgen -d -- "$cur"))
}

_@NAME@() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local cmd="" flags="" args="" i
	COMPREPLY=()
	# The command is the first word that is not a flag.
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-*) ;;
		*)
			cmd=${COMP_WORDS[i]}
			break
			;;
		esac
	done

	case $cmd in
	"")
		COMPREPLY=($(compgen -W "@TOPWORDS@" -- "$cur"))
		return
		;;@CASES@
	*)
		return
		;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
		return
	fi
	case $args in
	profile) _@NAME@_files '*.yaml' '*.yml' ;;
	file) _@NAME@_files ;;
	shell) COMPREPLY=($(compgen -W "@SHELLS@" -- "$cur")) ;;
	esac
}

complete -F _@NAME@ @NAME@

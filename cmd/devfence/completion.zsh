#compdef @NAME@
# zsh completion for @NAME@, printed by `@NAME@ completion zsh`.
#
#   source <(@NAME@ completion zsh)                             # this shell
#   @NAME@ completion zsh > "${fpath[1]}/_@NAME@"              # every shell
#
# It holds the commands and flags of the @NAME@ that printed it (print it
# again after an upgrade) and never runs @NAME@ while completing.

_@NAME@() {
	local curcontext="$curcontext" state line
	typeset -A opt_args
	local -a commands
	commands=(@COMMANDS@
	)
	_arguments -C \@GLOBAL@
		'1: :->command' \
		'*:: :->args' && return

	case $state in
	command)
		_describe -t commands '@NAME@ command' commands
		;;
	args)
		case $line[1] in@CASES@
		esac
		;;
	esac
}

# Autoloaded from $fpath, the file is the function's body; sourced, it
# registers the function.
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
	_@NAME@ "$@"
else
	compdef _@NAME@ @NAME@
fi

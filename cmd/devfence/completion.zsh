#compdef {{.Name}}
# zsh completion for {{.Name}}, printed by `{{.Name}} completion zsh`.
#
#   source <({{.Name}} completion zsh)                             # this shell
#   {{.Name}} completion zsh > "${fpath[1]}/_{{.Name}}"              # every shell
#
# It holds the commands and flags of the {{.Name}} that printed it (print it
# again after an upgrade) and never runs {{.Name}} while completing.

_{{.Name}}() {
	local curcontext="$curcontext" state line
	typeset -A opt_args
	local -a commands
	commands=(
{{- range .Commands}}
		'{{zsh .Name}}:{{zsh .Usage}}'
{{- end}}
	)
	_arguments -C \
{{- range .Global}}
		{{zflag .}} \
{{- end}}
		'1: :->command' \
		'*:: :->args' && return

	case $state in
	command)
		_describe -t commands '{{.Name}} command' commands
		;;
	args)
		case $line[1] in
{{- range .Commands}}
		{{.Name}})
			_arguments{{range zspecs .}} \
				{{.}}{{end}}
			;;
{{- end}}
		esac
		;;
	esac
}

# Autoloaded from $fpath, the file is the function's body; sourced, it
# registers the function.
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
	_{{.Name}} "$@"
else
	compdef _{{.Name}} {{.Name}}
fi

# bash completion for {{.Name}}, printed by `{{.Name}} completion bash`.
#
#   source <({{.Name}} completion bash)                            # this shell
#   {{.Name}} completion bash > /etc/bash_completion.d/{{.Name}}     # every shell
#
# It holds the commands and flags of the {{.Name}} that printed it (print it
# again after an upgrade) and never runs {{.Name}} while completing. It needs
# bash 4 or later, and not the bash-completion package.

# _{{.Name}}_files offers directories and the files matching the globs (all
# files when none is given).
_{{.Name}}_files() {
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

_{{.Name}}_dirs() {
	local IFS=$'\n'
	compopt -o filenames 2>/dev/null
	COMPREPLY+=($(compgen -d -- "$cur"))
}

_{{.Name}}() {
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
		COMPREPLY=($(compgen -W "{{range .Commands}}{{.Name}} {{end}}{{range .Global}}{{join .Names " "}} {{end}}" -- "$cur"))
		return
		;;
{{- range .Commands}}
	{{.Name}})
		flags="{{range .Flags}}{{join .Names " "}} {{end}}"
		args="{{.Args}}"
		case $prev in
{{- range .Flags}}{{if .Value}}
		{{join .Names "|"}})
			{{if eq .Value "file"}}_{{$.Name}}_files{{else if eq .Value "dir"}}_{{$.Name}}_dirs{{else if eq .Value "words"}}COMPREPLY=($(compgen -W "{{join .Words " "}}" -- "$cur")){{else}}: # a value of the user's{{end}}
			return
			;;
{{- end}}{{end}}
		esac
		;;
{{- end}}
	*)
		return
		;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
		return
	fi
	case $args in
	profile) _{{.Name}}_files '*.yaml' '*.yml' ;;
	file) _{{.Name}}_files ;;
	shell) COMPREPLY=($(compgen -W "{{join .Shells " "}}" -- "$cur")) ;;
	esac
}

complete -F _{{.Name}} {{.Name}}

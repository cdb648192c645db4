package compiler

// ReservedWordsProfile lets the kernel test (package compiler_test) apply
// the profile TestReservedWordsAsNames compiles.
var ReservedWordsProfile = reservedWordsProfile

// CountLines lets FuzzParse check diagnostics against the lines yaml.v3 sees.
var CountLines = countLines

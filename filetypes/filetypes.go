// Package filetypes maps file extensions to the categories of the reference
// library's "Known File Types" table (img, vid, doc, pdf, mp3, ...).
package filetypes

import "strings"

// Type is one row of the known file types table.
type Type struct {
	Ext      string // lower case, without the dot
	Category string
}

// Known is the reference README's "Known File Types" table, in its order
// (../shared/reference/amazon-photos-README.md), plus the formats Amazon
// Photos itself stores that the table predates (heic, heif, webp, ... marked
// below).
var Known = []Type{
	{"pdf", "pdf"},
	{"doc", "doc"}, {"docx", "doc"}, {"docm", "doc"}, {"dot", "doc"}, {"dotx", "doc"}, {"dotm", "doc"}, {"asd", "doc"}, {"cnv", "doc"},
	{"mp3", "mp3"}, {"m4a", "mp3"}, {"m4b", "mp3"}, {"m4p", "mp3"}, {"wav", "mp3"}, {"aac", "mp3"}, {"aif", "mp3"}, {"mpa", "mp3"}, {"wma", "mp3"}, {"flac", "mp3"}, {"mid", "mp3"}, {"ogg", "mp3"},
	{"xls", "xls"}, {"xlm", "xls"}, {"xll", "xls"}, {"xlc", "xls"}, {"xar", "xls"}, {"xla", "xls"}, {"xlb", "xls"}, {"xlsb", "xls"}, {"xlsm", "xls"}, {"xlsx", "xls"}, {"xlt", "xls"}, {"xltm", "xls"}, {"xltx", "xls"}, {"xlw", "xls"},
	{"ppt", "ppt"}, {"pptx", "ppt"}, {"ppa", "ppt"}, {"ppam", "ppt"}, {"pptm", "ppt"}, {"pps", "ppt"}, {"ppsm", "ppt"}, {"ppsx", "ppt"}, {"pot", "ppt"}, {"potm", "ppt"}, {"potx", "ppt"}, {"sldm", "ppt"}, {"sldx", "ppt"},
	{"txt", "txt"}, {"text", "txt"}, {"rtf", "txt"},
	{"xml", "markup"}, {"htm", "markup"}, {"html", "markup"},
	{"zip", "zip"}, {"rar", "zip"}, {"7z", "zip"},
	{"jpg", "img"}, {"jpeg", "img"}, {"png", "img"}, {"bmp", "img"}, {"gif", "img"}, {"tif", "img"}, {"svg", "img"},
	{"mp4", "vid"}, {"m4v", "vid"}, {"qt", "vid"}, {"mov", "vid"}, {"mpg", "vid"}, {"mpeg", "vid"}, {"3g2", "vid"}, {"3gp", "vid"}, {"flv", "vid"}, {"f4v", "vid"}, {"asf", "vid"}, {"avi", "vid"}, {"wmv", "vid"},
	{"swf", "exe"}, {"exe", "exe"}, {"dll", "exe"}, {"ax", "exe"}, {"ocx", "exe"}, {"rpm", "exe"},
	// Not in the reference table, but photo formats Amazon Photos stores
	// (the iPhone default is HEIC; see ../shared/API.md §2.3).
	{"heic", "img"}, {"heif", "img"}, {"webp", "img"}, {"tiff", "img"}, {"dng", "img"}, {"cr2", "img"}, {"nef", "img"}, {"arw", "img"},
}

var byExt = func() map[string]string {
	m := make(map[string]string, len(Known))
	for _, t := range Known {
		m[t.Ext] = t.Category
	}
	return m
}()

// Category returns the category of an extension ("JPG", ".mov", "heic"),
// case-insensitive, with or without the leading dot; "" when unknown.
func Category(ext string) string {
	ext = strings.TrimPrefix(ext, ".")
	if c, ok := byExt[ext]; ok {
		return c
	}
	return byExt[strings.ToLower(ext)]
}

// Categories returns the distinct categories in table order.
func Categories() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range Known {
		if !seen[t.Category] {
			seen[t.Category] = true
			out = append(out, t.Category)
		}
	}
	return out
}

// Package backup keeps an incremental, faithful copy of the library in a folder (BACKUP, CHECK, local_files()).
package backup

package backup

import (
	"context"
	"errors"

	"github.com/apsql/apsql/engine"
)

func (b *Backup) runCheck(ctx context.Context, s *engine.Session, rest string, explain bool) (*engine.Result, error) {
	return nil, errors.New("check: not yet")
}

"""The media library's forms."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class UploadForm(FlaskForm):
    file = FileField("File", validators=[DataRequired("Choose a file to upload.")])


class AssetForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the file a name."), Length(max=200)])
    tags = StringField("Tags", validators=[Length(max=1200)],
                       description="Separated by commas, e.g. logo, summer campaign")

    def tag_list(self) -> list[str]:
        return [tag for tag in (self.tags.data or "").split(",") if tag.strip()]


class ReplaceForm(FlaskForm):
    file = FileField("New file", validators=[DataRequired("Choose the new file.")],
                     description="Keeps this asset's id: everything using it shows the new file.")
